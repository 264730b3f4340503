"""``reelsight process`` as a real child process over a temporary /opt/ml tree."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reelsight.testing.moto_server import free_port
from reelsight.testing.videos import write_not_a_video, write_video

from .conftest import RecordingServer, child_env

JOB_NAME = "reelsight-test-job"


@dataclass
class OptMl:
    root: Path
    input: Path
    output: Path
    message: Path
    config: Path

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "REELSIGHT_RESOURCE_CONFIG": str(self.config / "resourceconfig.json"),
            "REELSIGHT_PROCESSING_JOB_CONFIG": str(self.config / "processingjobconfig.json"),
            "REELSIGHT_OUTPUT_MESSAGE": str(self.message),
            **extra,
        }


def make_opt_ml(root: Path, host: str, hosts: list[str], input_dir: Path, distribution: str) -> OptMl:
    """The files SageMaker Processing gives a container; input and output come from the job config."""
    config = root / "config"
    config.mkdir(parents=True)
    output = root / "processing" / "output"
    (config / "resourceconfig.json").write_text(json.dumps({"current_host": host, "hosts": hosts}))
    job = {
        "ProcessingJobName": JOB_NAME,
        "ProcessingInputs": [
            {
                "InputName": "videos",
                "S3Input": {
                    "S3Uri": "s3://in-bucket/videos",
                    "LocalPath": str(input_dir),
                    "S3DataDistributionType": distribution,
                },
            }
        ],
        "ProcessingOutputConfig": {
            "Outputs": [{"OutputName": "results", "S3Output": {"LocalPath": str(output)}}]
        },
        "Environment": {"REELSIGHT_FPS": "1"},
    }
    (config / "processingjobconfig.json").write_text(json.dumps(job))
    return OptMl(root, input_dir, output, root / "output" / "message", config)


def run_process(opt_ml: OptMl, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reelsight", "process", *args],
        env=child_env(opt_ml.env(**env)),
        capture_output=True,
        text=True,
        timeout=600,
    )


VIDEOS = ["a.mp4", "b.mov", "one/clip.mp4", "two/clip.mp4", "z.mkv"]
NAMES = {"a", "b", "one__clip_mp4", "two__clip_mp4", "z"}


@pytest.fixture(scope="module")
def replicated_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("replicated")
    for rel in VIDEOS:
        write_video(root / rel, seconds=2, fps=10, width=160, height=120, gop=10)
    (root / "notes.txt").write_text("not a video suffix: ignored")
    return root


def test_two_hosts_with_custom_sharding_split_the_work(replicated_input: Path, tmp_path: Path) -> None:
    hosts = ["algo-1", "algo-2"]
    runs = {}
    down_api = f"http://127.0.0.1:{free_port()}"  # progress reports fail; the job must not
    for host in hosts:
        opt_ml = make_opt_ml(tmp_path / host, host, hosts, replicated_input, "FullyReplicated")
        result = run_process(
            opt_ml,
            "--mode",
            "frames",
            "--custom-sharding",
            REELSIGHT_API_URL=down_api,
            REELSIGHT_API_TOKEN="t",
        )
        assert result.returncode == 0, result.stderr
        runs[host] = opt_ml
    produced = {host: {p.name for p in o.output.iterdir() if p.is_dir()} for host, o in runs.items()}
    assert produced["algo-1"].isdisjoint(produced["algo-2"])
    assert produced["algo-1"] | produced["algo-2"] == NAMES
    assert abs(len(produced["algo-1"]) - len(produced["algo-2"])) <= 1
    for host, opt_ml in runs.items():
        manifest = json.loads((opt_ml.output / f"manifest-{host}.json").read_text())
        assert manifest["host"] == host and manifest["job_id"] == JOB_NAME
        assert {v["output"] for v in manifest["videos"]} == produced[host]
        assert all(v["status"] == "ok" and v["frames"] == 2 for v in manifest["videos"])
        for name in produced[host]:
            index = [
                json.loads(line) for line in (opt_ml.output / name / "index.jsonl").read_text().splitlines()
            ]
            assert [r["timestamp"] for r in index] == pytest.approx([0.0, 1.0], abs=0.06)
            assert all((opt_ml.output / name / r["file"]).stat().st_size > 0 for r in index)
        assert "0 failed" in opt_ml.message.read_text()


def test_input_sharded_by_s3_key_is_not_sharded_again(replicated_input: Path, tmp_path: Path) -> None:
    opt_ml = make_opt_ml(tmp_path, "algo-2", ["algo-1", "algo-2"], replicated_input, "ShardedByS3Key")
    result = run_process(opt_ml, "--mode", "frames", "--custom-sharding", "--max-frames", "1")
    assert result.returncode == 0, result.stderr
    assert {p.name for p in opt_ml.output.iterdir() if p.is_dir()} == NAMES
    assert "custom sharding skipped" in opt_ml.message.read_text()


@pytest.fixture(scope="module")
def mixed_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mixed")
    write_video(root / "good1.mp4", seconds=2, fps=10, width=160, height=120)
    write_video(root / "nested" / "good2.mp4", seconds=2, fps=10, width=160, height=120)
    write_not_a_video(root / "broken.mp4")
    return root


def test_infer_mode_records_the_bad_video_and_reports_progress(
    mixed_input: Path, tmp_path: Path, recording_server: RecordingServer
) -> None:
    opt_ml = make_opt_ml(tmp_path, "algo-1", ["algo-1"], mixed_input, "FullyReplicated")
    result = run_process(
        opt_ml,
        "--mode",
        "infer",
        "--include",
        "contact_sheet",
        REELSIGHT_API_URL=recording_server.url,
        REELSIGHT_API_TOKEN="secret-token",
    )
    assert result.returncode == 0, result.stderr
    out = opt_ml.output
    for name in ("good1", "good2"):
        summary = json.loads((out / name / "summary.json").read_text())
        assert summary["status"] == "ok" and summary["frames_sampled"] == 2
        assert summary["model"]["name"] == "ssdlite"
        assert len((out / name / "frames.jsonl").read_text().splitlines()) == 2
    assert json.loads((out / "good2" / "summary.json").read_text())["video"]["uri"] == (
        "s3://in-bucket/videos/nested/good2.mp4"
    )
    error = json.loads((out / "broken" / "error.json").read_text())
    assert error["status"] == "failed" and error["error"]["type"] == "UnsupportedMediaError"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {"ok": 2, "partial": 0, "failed": 1}
    message = opt_ml.message.read_text()
    assert "2 ok" in message and "1 failed" in message and "broken.mp4" in message
    assert len(message.encode()) <= 1024

    assert all(r.path == f"/v1/jobs/{JOB_NAME}/progress" for r in recording_server.requests)
    assert all(r.headers["Authorization"] == "Bearer secret-token" for r in recording_server.requests)
    for video in ("good1.mp4", "nested/good2.mp4"):
        posts = recording_server.posts_for(video)
        # run_video's snapshots: the first report says the model stage, the final one is "done".
        assert posts and posts[0]["stage"] == "loading" and posts[0]["frames_done"] == 0
        assert posts[-1] == {"video": video, "frames_done": 2, "frames_total": 2, "stage": "done", "parts": 0}
    assert recording_server.posts_for("broken.mp4") == []


def test_exit_codes(mixed_input: Path, tmp_path: Path) -> None:
    strict = make_opt_ml(tmp_path / "strict", "algo-1", ["algo-1"], mixed_input, "FullyReplicated")
    result = run_process(strict, "--mode", "frames", "--fail-on-any-error")
    assert result.returncode == 1
    assert "1 failed" in strict.message.read_text()

    only_bad = tmp_path / "only-bad"
    only_bad.mkdir()
    write_not_a_video(only_bad / "x.mp4")
    (only_bad / "y.mkv").write_bytes(b"")
    all_failed = make_opt_ml(tmp_path / "all", "algo-1", ["algo-1"], only_bad, "FullyReplicated")
    result = run_process(all_failed, "--mode", "frames")
    assert result.returncode == 1
    assert json.loads((all_failed.output / "y" / "error.json").read_text())["error"]["type"] == "VideoError"

    no_input = make_opt_ml(tmp_path / "none", "algo-1", ["algo-1"], tmp_path / "missing", "FullyReplicated")
    result = run_process(no_input, "--mode", "frames")
    assert result.returncode == 2 and "does not exist" in no_input.message.read_text()

    bad_option = make_opt_ml(tmp_path / "opt", "algo-1", ["algo-1"], mixed_input, "FullyReplicated")
    result = run_process(bad_option, "--mode", "frames", "--fps", "-3")
    assert result.returncode == 2 and "fps" in result.stderr


def test_a_reelsight_job_of_one_video_writes_ordered_result_parts(tmp_path: Path, aws_env: Any) -> None:
    """While it runs, a one-video job started by reelsight mirrors frames.jsonl as parts in S3."""
    import boto3

    from reelsight.contract.names import output_prefix, parts_prefix

    job_id = "b" * 32
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="results-parts")
    video_dir = tmp_path / "in"
    write_video(video_dir / "long.mp4", seconds=4, fps=10, width=160, height=120, gop=10)
    opt_ml = make_opt_ml(tmp_path / "job", "algo-1", ["algo-1"], video_dir, "ShardedByS3Key")
    config_path = opt_ml.config / "processingjobconfig.json"
    job = json.loads(config_path.read_text())
    job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] = (
        f"s3://results-parts/{output_prefix(job_id)}"
    )
    config_path.write_text(json.dumps(job))
    result = run_process(
        opt_ml, "--mode", "infer", REELSIGHT_JOB_ID=job_id, REELSIGHT_FPS="4", REELSIGHT_PART_FRAMES="3"
    )
    assert result.returncode == 0, result.stderr
    listed = s3.list_objects_v2(Bucket="results-parts", Prefix=parts_prefix(job_id))["Contents"]
    keys = sorted(obj["Key"] for obj in listed)
    assert len(keys) >= 2, keys  # 16 frames, a part at least every 3 (each batch of 4 ends one)
    joined = b"".join(s3.get_object(Bucket="results-parts", Key=key)["Body"].read() for key in keys)
    assert joined == (opt_ml.output / "long" / "frames.jsonl").read_bytes()
