"""A batch of videos over several hosts: disjoint shares, a marker per finished video, an error
record for a broken one, and the plan's edge cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reelsight import envvars
from reelsight.contract.batch import (
    PLAN_INPUT_DIR,
    PartError,
    PartMarker,
    error_key,
    marker_key,
    part_prefix,
    plan_batch,
    plan_split,
)
from reelsight.contract.names import FRAMES_FILE, SUMMARY_FILE, s3_uri
from reelsight.contract.processing import PROCESSING_INPUT_DIR
from reelsight.local.processing_inputs import host_path
from reelsight.testing.videos import write_not_a_video, write_video
from reelsight.worker.processing import settings_from_environment

from .conftest import RecordingServer
from .processing_jobs import (
    INPUT_BUCKET,
    RESULTS_BUCKET,
    dispatch,
    job_request,
    keys,
    read,
    run_hosts,
)

NAMES = ["a.mp4", "b.mp4", "broken.mp4", "c/clip.mp4", "d/clip.mp4"]
PART_IDS = ["a", "b", "broken", "c__clip_mp4", "d__clip_mp4"]


@pytest.fixture()
def s3(aws_env: Any) -> Any:
    import boto3

    aws_env.reset()
    client = boto3.client("s3")
    for bucket in (INPUT_BUCKET, RESULTS_BUCKET):
        client.create_bucket(Bucket=bucket)
    return client


def upload_videos(s3: Any, folder: Path, names: list[str]) -> list[str]:
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.startswith("broken"):
            write_not_a_video(path)
        else:
            write_video(path, seconds=2, fps=10, width=96, height=64)
        s3.upload_file(str(path), INPUT_BUCKET, f"batch/{name}")
    return [s3_uri(INPUT_BUCKET, f"batch/{name}") for name in names]


def test_five_videos_one_broken_over_two_hosts(
    s3: Any, tmp_path: Path, recording_server: RecordingServer
) -> None:
    plan = plan_batch("ab" * 16, upload_videos(s3, tmp_path / "src", NAMES), options={"fps": "2"})
    assert list(plan.part_ids) == PART_IDS
    api = {"REELSIGHT_API_URL": recording_server.url, "REELSIGHT_API_TOKEN": "secret-token"}
    hosts = run_hosts(s3, dispatch(s3, plan), tmp_path, 2, env=api)
    assert [h.proc.returncode for h in hosts] == [0, 0], hosts[0].log()[-3000:]

    shares = [{p.relative_to(h.input_dir).as_posix() for p in h.input_dir.rglob("*.mp4")} for h in hosts]
    assert shares[0] and shares[1] and not shares[0] & shares[1]
    assert shares[0] | shares[1] == set(NAMES)

    done = [pid for pid in PART_IDS if keys(s3, marker_key(plan.job_id, pid))]
    assert done == ["a", "b", "c__clip_mp4", "d__clip_mp4"]
    for pid in done:
        marker = PartMarker.from_json(read(s3, marker_key(plan.job_id, pid)))
        assert (marker.status, marker.frames, marker.attempt) == ("ok", 4, 1)
        summary = json.loads(read(s3, part_prefix(plan.job_id, pid) + SUMMARY_FILE))
        assert summary["frames_sampled"] == 4
        assert len(read(s3, part_prefix(plan.job_id, pid) + FRAMES_FILE).splitlines()) == 4
    error = PartError.from_json(read(s3, error_key(plan.job_id, "broken")))
    assert error.video == s3_uri(INPUT_BUCKET, "batch/broken.mp4") and error.message
    assert error.type in {"VideoError", "UnsupportedMediaError"}
    broken_host = next(h for h in hosts if "broken.mp4" in shares[hosts.index(h)])
    # The local error record is the same document, so the job's own upload writes the same bytes.
    assert (broken_host.output_dir / "broken" / "error.json").read_text().strip() == error.to_json()
    assert "broken.mp4 (" in broken_host.message
    # Each video's progress goes to its own job record, where the API shows the batch's parts.
    paths = {r.path for r in recording_server.requests}
    assert paths <= {f"/v1/jobs/{part.job_id}/progress" for part in plan.parts}
    for part in plan.parts:
        if part.part_id != "broken":
            assert recording_server.posts_for(part.relative_path)[-1]["frames_done"] == 4
    for host in hosts:
        # The parts went to S3 from the host; only the host's manifest stays for the job's upload.
        left = sorted(p.name for p in host.output_dir.iterdir())
        assert left == sorted([f"manifest-{host.name}.json", *(["broken"] if host is broken_host else [])])


def test_more_hosts_than_videos_and_a_video_the_plan_does_not_know(s3: Any, tmp_path: Path) -> None:
    plan = plan_batch("cd" * 16, upload_videos(s3, tmp_path / "src", ["a.mp4"]), options={"fps": "1"})
    request = dispatch(s3, plan)
    hosts = run_hosts(s3, request, tmp_path, 2)
    assert [h.proc.returncode for h in hosts] == [0, 0], hosts[1].log()[-3000:]
    idle = next(h for h in hosts if not any(h.input_dir.rglob("*.mp4")))
    assert "received no video" in idle.message
    assert keys(s3, marker_key(plan.job_id, "a"))

    stray = plan_batch("ef" * 16, [s3_uri(INPUT_BUCKET, "batch/a.mp4")], options={"fps": "1"})

    def add_stray(root: Path) -> None:
        write_video(
            host_path(root, PROCESSING_INPUT_DIR) / "extra.mp4", seconds=1, fps=10, width=96, height=64
        )

    hosts = run_hosts(s3, dispatch(s3, stray), tmp_path, 1, before_start=add_stray)
    assert hosts[0].proc.returncode == 0, hosts[0].log()[-3000:]
    assert "extra.mp4 is not in the job plan: skipped" in hosts[0].message
    manifest = json.loads((hosts[0].output_dir / "manifest.json").read_text())
    assert manifest["notes"] == ["extra.mp4 is not in the job plan: skipped"]
    assert [v["output"] for v in manifest["videos"]] == ["a"]
    assert keys(s3, marker_key(stray.job_id, "a")) and not keys(s3, part_prefix(stray.job_id, "extra"))


def test_an_unreadable_plan_fails_the_host_with_a_clear_message(s3: Any, tmp_path: Path) -> None:
    plan = plan_batch("0a" * 16, upload_videos(s3, tmp_path / "src", ["a.mp4"]))
    request = dispatch(s3, plan)
    s3.put_object(Bucket=RESULTS_BUCKET, Key=f"jobs/{plan.job_id}/plan.json", Body=b"{not json")
    hosts = run_hosts(s3, request, tmp_path, 1)
    assert hosts[0].proc.returncode == 2
    assert "plan" in hosts[0].message and "cannot be read" in hosts[0].message
    assert "Traceback" not in hosts[0].log()


def test_a_split_with_max_frames_is_refused(s3: Any, tmp_path: Path) -> None:
    uri = upload_videos(s3, tmp_path / "src", ["a.mp4"])[0]
    plan = plan_split("0b" * 16, uri, 2, options={"fps": "2", "max_frames": "3"})
    hosts = run_hosts(s3, dispatch(s3, plan), tmp_path, 2)
    assert [h.proc.returncode for h in hosts] == [2, 2]
    assert "cannot take max_frames" in hosts[0].message


def test_a_broken_video_split_records_each_range_error(s3: Any, tmp_path: Path) -> None:
    uri = upload_videos(s3, tmp_path / "src", ["broken.mp4"])[0]
    plan = plan_split("0c" * 16, uri, 2)
    hosts = run_hosts(s3, dispatch(s3, plan), tmp_path, 2)
    assert all(h.proc.returncode not in (0, None) for h in hosts)
    for pid in plan.part_ids:
        error = PartError.from_json(read(s3, error_key(plan.job_id, pid)))
        assert error.part_id == pid and error.message
        assert error.reason in hosts[0].message or error.reason in hosts[1].message
    assert "Traceback" not in hosts[0].log()


def test_container_paths_follow_the_opt_ml_root(tmp_path: Path) -> None:
    """With REELSIGHT_OPT_ML_ROOT, every /opt/ml path (config files, inputs, output, message, plan)
    lies under it."""
    plan = plan_batch("0d" * 16, [s3_uri(INPUT_BUCKET, "batch/a.mp4")], mode="frames", image_format="png")
    request = job_request(plan, attempt=3)
    config = tmp_path / "config"
    config.mkdir()
    (config / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-2", "hosts": ["algo-1", "algo-2"]})
    )
    (config / "processingjobconfig.json").write_text(json.dumps(request))
    plan_dir = host_path(tmp_path, PLAN_INPUT_DIR)
    plan_dir.mkdir(parents=True)
    (plan_dir / "plan.json").write_text(plan.to_json())
    settings = settings_from_environment({envvars.OPT_ML_ROOT: str(tmp_path)}, overrides={})
    assert settings.host.current_host == "algo-2"
    assert settings.input_dir == tmp_path / "processing" / "input" / "video"
    assert settings.output_dir == tmp_path / "processing" / "output"
    assert settings.message_file == tmp_path / "output" / "message"
    assert settings.plan == plan and settings.attempt == 3 and settings.job_id == plan.job_id
    assert (settings.mode, settings.image_format) == ("frames", "png")
    assert settings.parts_bucket == RESULTS_BUCKET
    assert settings.distribution == "ShardedByS3Key"
    flags = settings_from_environment(
        {envvars.OPT_ML_ROOT: str(tmp_path)}, overrides={"fps": "3"}, mode="infer", image_format="jpg"
    )
    assert (flags.mode, flags.image_format, flags.options.sampling.fps) == ("infer", "jpg", 3.0)


def test_a_one_video_job_keeps_its_live_result_parts(s3: Any, tmp_path: Path) -> None:
    """Every Processing job of one video now runs a plan of one part: its results land where they
    always did (output/<stem>/), and frames.jsonl is still mirrored as parts while it runs."""
    from reelsight.contract.names import parts_prefix
    from reelsight.contract.processing import single_video_plan

    uri = upload_videos(s3, tmp_path / "src", ["long.mp4"])[0]
    plan = single_video_plan("0e" * 16, uri, options={"fps": "4"})
    hosts = run_hosts(s3, dispatch(s3, plan), tmp_path, 1, env={"REELSIGHT_PART_FRAMES": "3"})
    assert hosts[0].proc.returncode == 0, hosts[0].log()[-3000:]
    frames = read(s3, part_prefix(plan.job_id, "long") + FRAMES_FILE)
    assert len(frames.splitlines()) == 8
    live = keys(s3, parts_prefix(plan.job_id))
    assert len(live) >= 2 and b"".join(read(s3, key) for key in live) == frames
    assert PartMarker.from_json(read(s3, marker_key(plan.job_id, "long"))).frames == 8
