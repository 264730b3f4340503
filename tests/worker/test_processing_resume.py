"""Resume: a host killed mid-run; attempt 2 runs only the parts without a marker."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from reelsight.contract.batch import (
    PartMarker,
    marker_key,
    merged_prefix,
    plan_batch,
    plan_split,
    range_part_id,
)
from reelsight.contract.names import FRAMES_FILE, SUMMARY_FILE, s3_uri
from reelsight.testing.videos import write_video

from .processing_jobs import (
    INPUT_BUCKET,
    dispatch,
    keys,
    long_video_buckets,
    read,
    run_hosts,
    start_hosts,
    summary_without_timings,
    wait_for_key,
)

VIDEO_KEY = "long/match.mp4"
RANGES = 6
# 120 samples, 20 a range: a multiple of the batch size (4), as in a one-host run.
OPTIONS = {"fps": "2"}


@pytest.fixture()
def s3(aws_env: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return long_video_buckets(aws_env, tmp_path_factory.getbasetemp(), "resume-match.mp4", VIDEO_KEY)


def markers(s3: Any, job_id: str) -> dict[str, PartMarker]:
    found = {}
    for i in range(RANGES):
        key = marker_key(job_id, range_part_id(i))
        if key in keys(s3, key):
            found[range_part_id(i)] = PartMarker.from_json(read(s3, key))
    return found


def test_a_killed_host_is_resumed_by_attempt_2(s3: Any, tmp_path: Path) -> None:
    plan = plan_split("a1" * 16, s3_uri(INPUT_BUCKET, VIDEO_KEY), RANGES, options=OPTIONS)
    hosts = start_hosts(s3, dispatch(s3, plan), tmp_path, 2)
    # algo-2 runs ranges 2, 4, 6: kill it once its first one is done.
    wait_for_key(s3, marker_key(plan.job_id, range_part_id(1)), hosts)
    hosts[1].proc.send_signal(signal.SIGKILL)
    assert hosts[0].wait() == 0, hosts[0].log()[-3000:]
    assert hosts[1].wait() == -signal.SIGKILL
    first = markers(s3, plan.job_id)
    assert range_part_id(1) in first and len(first) < RANGES, sorted(first)
    assert {m.attempt for m in first.values()} == {1}
    target = merged_prefix(plan.job_id, "match")
    assert keys(s3, target + FRAMES_FILE) == []  # nobody merged an incomplete job

    resumed = run_hosts(s3, dispatch(s3, plan, attempt=2), tmp_path, 2)
    assert [h.proc.returncode for h in resumed] == [0, 0], resumed[0].log()[-3000:]
    final = markers(s3, plan.job_id)
    assert sorted(final) == [range_part_id(i) for i in range(RANGES)]
    assert {pid: m for pid, m in final.items() if m.attempt == 1} == first  # not run again
    assert all(m.attempt == 2 for pid, m in final.items() if pid not in first)

    reference = plan_batch("b1" * 16, [s3_uri(INPUT_BUCKET, VIDEO_KEY)], options=OPTIONS)
    one = run_hosts(s3, dispatch(s3, reference), tmp_path, 1)
    assert one[0].proc.returncode == 0, one[0].log()[-3000:]
    want = f"jobs/{reference.job_id}/output/match/"
    assert read(s3, target + FRAMES_FILE) == read(s3, want + FRAMES_FILE)
    summary = summary_without_timings(read(s3, target + SUMMARY_FILE))
    expected = summary_without_timings(read(s3, want + SUMMARY_FILE))
    expected["artifacts"].pop("contact_sheet")
    assert summary == expected


def test_a_batch_resume_skips_the_videos_with_a_marker(s3: Any, tmp_path: Path) -> None:
    """Attempt 2 of a batch receives only the pending videos (the dispatcher's manifest); a video
    whose marker exists is skipped even when it arrives again."""
    write_video(tmp_path / "short.mp4", seconds=2, fps=10, width=96, height=64)
    for name in ("one.mp4", "two.mp4"):
        s3.upload_file(str(tmp_path / "short.mp4"), INPUT_BUCKET, f"clips/{name}")
    plan = plan_batch(
        "c1" * 16, [s3_uri(INPUT_BUCKET, f"clips/{n}") for n in ("one.mp4", "two.mp4")], options={"fps": "1"}
    )
    first = run_hosts(s3, dispatch(s3, plan, parts=plan.parts[:1]), tmp_path, 1)
    assert first[0].proc.returncode == 0, first[0].log()[-3000:]
    again = run_hosts(s3, dispatch(s3, plan, attempt=2), tmp_path, 1)
    assert again[0].proc.returncode == 0, again[0].log()[-3000:]
    assert PartMarker.from_json(read(s3, marker_key(plan.job_id, "one"))).attempt == 1
    assert PartMarker.from_json(read(s3, marker_key(plan.job_id, "two"))).attempt == 2
    assert "one was done by an earlier attempt: skipped" in again[0].message
