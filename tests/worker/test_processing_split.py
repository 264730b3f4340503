"""A long video over several hosts: the merged result equals a one-host run of the whole video."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reelsight.contract.batch import (
    JobPlan,
    PartMarker,
    marker_key,
    merged_prefix,
    part_prefix,
    plan_batch,
    plan_split,
    range_part_id,
)
from reelsight.contract.names import FRAMES_FILE, SUMMARY_FILE, s3_uri
from reelsight.contract.options import tracking_warnings
from reelsight.contract.tracks import read_tracks_jsonl, unique_objects_per_class
from reelsight.params import RunOptions, SamplingParams

from .processing_jobs import (
    INPUT_BUCKET,
    dispatch,
    keys,
    long_video_buckets,
    read,
    run_hosts,
    summary_without_timings,
)

VIDEO_KEY = "long/match.mp4"
# 2 samples a second over 60 s: 120 samples, 40 a range over 3 hosts. 40 is a multiple of the batch
# size (4), so every range feeds the model the same batches a one-host run does.
OPTIONS = {"fps": "2"}


@pytest.fixture()
def s3(aws_env: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return long_video_buckets(aws_env, tmp_path_factory.getbasetemp(), "match.mp4", VIDEO_KEY)


def one_host_run(s3: Any, workdir: Path, options: dict[str, str]) -> tuple[bytes, bytes]:
    """The reference: the whole video on one host (a batch of one), its frames.jsonl and summary."""
    plan = plan_batch("c" * 32, [s3_uri(INPUT_BUCKET, VIDEO_KEY)], options=options)
    hosts = run_hosts(s3, dispatch(s3, plan), workdir, 1)
    assert hosts[0].proc.returncode == 0, hosts[0].log()[-3000:]
    prefix = part_prefix(plan.job_id, plan.parts[0].part_id)
    return read(s3, prefix + FRAMES_FILE), read(s3, prefix + SUMMARY_FILE)


def merged(s3: Any, plan: JobPlan) -> tuple[bytes, bytes]:
    prefix = merged_prefix(plan.job_id, "match")
    return read(s3, prefix + FRAMES_FILE), read(s3, prefix + SUMMARY_FILE)


def test_a_60_second_video_over_3_hosts_equals_a_one_host_run(s3: Any, tmp_path: Path) -> None:
    plan = plan_split("d" * 32, s3_uri(INPUT_BUCKET, VIDEO_KEY), 3, options=OPTIONS)
    hosts = run_hosts(s3, dispatch(s3, plan), tmp_path, 3)
    for host in hosts:
        assert host.proc.returncode == 0, host.log()[-3000:]
    frames, summary = merged(s3, plan)
    want_frames, want_summary = one_host_run(s3, tmp_path, OPTIONS)

    lines = frames.decode().splitlines()
    assert len(lines) == 120
    assert lines == want_frames.decode().splitlines()
    assert [json.loads(line)["timestamp"] for line in lines] == pytest.approx(
        [i * 0.5 for i in range(120)], abs=0.051
    )
    reference = summary_without_timings(want_summary)
    # A contact sheet is drawn per range (in its part prefix); the merged result has none.
    assert reference["artifacts"].pop("contact_sheet") == "contact_sheet.png"
    assert summary_without_timings(summary) == reference
    for i in range(3):
        assert part_prefix(plan.job_id, range_part_id(i)) + "contact_sheet.png" in keys(
            s3, part_prefix(plan.job_id, range_part_id(i))
        )

    markers = [PartMarker.from_json(read(s3, marker_key(plan.job_id, range_part_id(i)))) for i in range(3)]
    assert [(m.start, m.end) for m in markers] == [(0.0, 20.0), (20.0, 40.0), (40.0, None)]
    assert sorted(m.host for m in markers) == ["algo-1", "algo-2", "algo-3"]
    assert [m.frames for m in markers] == [40, 40, 40]
    # Nothing of a range went through the job's own output folder.
    assert all(not any(host.output_dir.glob("range-*")) for host in hosts)


def test_frames_mode_and_tracking_over_2_hosts(s3: Any, tmp_path: Path) -> None:
    """Frames mode merges index.jsonl in range order with every image in the merged folder; a
    tracked split run at a low rate gets its tracks.jsonl and the low-rate warning once (the
    stitched tracks' equality with a one-host run: test_processing_split_tracks.py)."""
    plan = plan_split("e" * 32, s3_uri(INPUT_BUCKET, VIDEO_KEY), 2, mode="frames", options={"fps": "0.5"})
    hosts = run_hosts(s3, dispatch(s3, plan), tmp_path, 2)
    assert [h.proc.returncode for h in hosts] == [0, 0], hosts[0].log()[-3000:]
    prefix = merged_prefix(plan.job_id, "match")
    index = [json.loads(line) for line in read(s3, prefix + "index.jsonl").decode().splitlines()]
    assert [round(r["timestamp"]) for r in index] == list(range(0, 60, 2))
    assert {prefix + r["file"] for r in index} <= set(keys(s3, prefix + "frames/"))

    tracked = plan_split("f" * 32, s3_uri(INPUT_BUCKET, VIDEO_KEY), 2, options={"fps": "1", "track": "true"})
    hosts = run_hosts(s3, dispatch(s3, tracked), tmp_path, 2)
    assert [h.proc.returncode for h in hosts] == [0, 0], hosts[1].log()[-3000:]
    target = merged_prefix(tracked.job_id, "match")
    summary = json.loads(read(s3, target + SUMMARY_FILE))
    assert summary["frames_sampled"] == 60
    (low_rate,) = tracking_warnings(RunOptions(track=True, sampling=SamplingParams(fps=1)))
    assert summary["warnings"].count(low_rate) == 1
    (tmp_path / "tracks.jsonl").write_bytes(read(s3, target + "tracks.jsonl"))
    tracks = list(read_tracks_jsonl(tmp_path / "tracks.jsonl"))
    assert summary["unique_objects_per_class"] == unique_objects_per_class(tracks)
    assert summary["artifacts"]["tracks"] == "tracks.jsonl"
