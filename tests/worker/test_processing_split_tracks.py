"""A tracked long video over several hosts: the ranges' frames are tracked as one run when merged,
so frames.jsonl (with its track ids), tracks.jsonl and the summary equal a one-host tracked run.

The hosts are real ``process`` processes with the colour-box detector, on the 60 s clip of
``reelsight.testing.videos`` (three boxes sliding right, each wrapping round to the left edge):
every box is in view on both sides of each range boundary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reelsight.contract.batch import (
    ERROR_FILE,
    MARKER_FILE,
    JobPlan,
    PartMarker,
    merged_prefix,
    part_prefix,
    plan_batch,
    plan_split,
    range_part_id,
)
from reelsight.contract.names import FRAMES_FILE, SUMMARY_FILE, TRACKS_FILE, s3_uri
from reelsight.results import Detections, FrameResult
from reelsight.testing import processing_jobs as jobs
from reelsight.tracking import (
    TRACKER_INPUT_FILE,
    FrameTracker,
    stitch_frames,
    track_frames,
    tracker_input_line,
)

from .conftest import child_env
from .processing_jobs import (
    INPUT_BUCKET,
    RESULTS_BUCKET,
    dispatch,
    keys,
    long_video_buckets,
    read,
    summary_without_timings,
)

VIDEO_KEY = "long/match.mp4"
DETECTOR = "reelsight.testing.colour_process"


@pytest.fixture()
def s3(aws_env: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return long_video_buckets(aws_env, tmp_path_factory.getbasetemp(), "match.mp4", VIDEO_KEY)


def run(s3: Any, plan: JobPlan, workdir: Path, count: int) -> None:
    hosts = jobs.run_hosts(s3, dispatch(s3, plan), workdir, count, child_env({}), module=DETECTOR)
    for host in hosts:
        assert host.proc.returncode == 0, host.log()[-3000:]


def results(s3: Any, prefix: str) -> tuple[list[str], list[str], dict[str, Any]]:
    """frames.jsonl and tracks.jsonl (lines) and summary.json (less timings and receipt)."""
    frames = read(s3, prefix + FRAMES_FILE).decode().splitlines()
    tracks = read(s3, prefix + TRACKS_FILE).decode().splitlines()
    return frames, tracks, summary_without_timings(read(s3, prefix + SUMMARY_FILE))


def one_host(s3: Any, workdir: Path, options: dict[str, str]) -> tuple[list[str], list[str], dict[str, Any]]:
    """The reference: the whole video tracked on one host (a batch of one)."""
    plan = plan_batch("a" * 32, [s3_uri(INPUT_BUCKET, VIDEO_KEY)], options=options)
    run(s3, plan, workdir, 1)
    return results(s3, part_prefix(plan.job_id, plan.parts[0].part_id))


def ids_at(frames: list[str], frame_index: int) -> dict[str, int | None]:
    """The track id of each box colour's detection in one frame, by the detector's order."""
    line = next(json.loads(f) for f in frames if json.loads(f)["frame_index"] == frame_index)
    det = line["detections"]
    return {f"{n}{i}": t for i, (n, t) in enumerate(zip(det["class_names"], det["track_ids"], strict=True))}


def test_a_tracked_video_over_3_hosts_equals_a_one_host_tracked_run(s3: Any, tmp_path: Path) -> None:
    options = {"track": "true"}  # at tracking's own rate: 10 fps, every frame of the clip
    plan = plan_split("b" * 32, s3_uri(INPUT_BUCKET, VIDEO_KEY), 3, options=options)
    run(s3, plan, tmp_path, 3)
    target = merged_prefix(plan.job_id, "match")
    frames, tracks, summary = results(s3, target)
    want_frames, want_tracks, want = one_host(s3, tmp_path, options)

    assert len(frames) == 600
    assert frames == want_frames
    assert tracks == want_tracks
    assert want["artifacts"].pop("contact_sheet") == "contact_sheet.png"  # drawn per range
    assert summary == want
    assert summary["artifacts"]["tracks"] == TRACKS_FILE
    assert summary["params"]["track"] is True and summary["params"]["sampling"]["fps"] == 10

    # Every box keeps its id over the boundaries at 20 s and 40 s (frames 199|200 and 399|400).
    for last, first in ((199, 200), (399, 400)):
        before, after = ids_at(frames, last), ids_at(frames, first)
        assert len(before) == 3 and None not in before.values()
        assert before == after
    spanning = [
        json.loads(t) for t in tracks if json.loads(t)["first_seen"] < 20 <= json.loads(t)["last_seen"]
    ]
    assert len(spanning) == 3
    assert sum(summary["unique_objects_per_class"].values()) == len(tracks)

    # The ranges ran untracked and left their detections at full precision in their own folders.
    for i in range(3):
        folder = keys(s3, part_prefix(plan.job_id, range_part_id(i)))
        assert part_prefix(plan.job_id, range_part_id(i)) + TRACKER_INPUT_FILE in folder
        assert not any(key.endswith(TRACKS_FILE) for key in folder)
    assert not any(key.endswith(TRACKER_INPUT_FILE) for key in keys(s3, target))


def test_masks_only_as_pictures_still_reach_the_tracks(s3: Any, tmp_path: Path) -> None:
    """With mask PNGs but no masks in frames.jsonl, tracks.jsonl's best sightings keep their masks
    (they come from the ranges' recorded detections), as in a one-host run."""
    options = {"track": "true", "include": "mask_pngs", "start": "15", "end": "25"}
    plan = plan_split("c" * 32, s3_uri(INPUT_BUCKET, VIDEO_KEY), 2, options=options)
    run(s3, plan, tmp_path, 2)
    target = merged_prefix(plan.job_id, "match")
    frames, tracks, summary = results(s3, target)
    want_frames, want_tracks, want = one_host(s3, tmp_path, options)

    assert frames == want_frames and tracks == want_tracks and summary == want
    assert all("masks" not in json.loads(f)["detections"] for f in frames)
    assert all(json.loads(t)["best_frame"]["mask"] is not None for t in tracks)
    assert ids_at(frames, 199) == ids_at(frames, 200)
    assert len(keys(s3, target + "masks/")) == len(frames) == 100


def sliding(score: float) -> list[FrameResult]:
    """Six samples of one box sliding right, always at ``score``."""
    return [
        FrameResult(
            frame_index=i, timestamp=i / 10, width=100, height=100,
            detections=Detections(
                xyxy=np.array([[10 + 2.004 * i, 10, 40 + 2.004 * i, 40]], np.float32),
                labels=np.array([1]), scores=np.array([score], np.float32), class_names=["person"],
            ),
        )
        for i in range(6)
    ]  # fmt: skip


def test_the_merger_tracks_the_models_values_not_frames_jsonls_rounded_ones() -> None:
    """A score of 0.59996 is 0.6 in frames.jsonl: at ByteTrack's high-score split (0.6) the rounded
    value starts a track that the model's own value never starts."""
    recorded = [tracker_input_line(frame, with_masks=False) for frame in sliding(0.59996)]
    rounded = [FrameResult.from_json(frame.to_json()) for frame in sliding(0.59996)]
    assert rounded[0].detections is not None and float(rounded[0].detections.scores[0]) == pytest.approx(0.6)

    def ids(frames: list[FrameResult]) -> list[list[int | None] | None]:
        return [f.detections.track_ids if f.detections is not None else None for f in frames]

    one_host = ids(list(track_frames(sliding(0.59996), sample_rate=10)))
    assert one_host == [[None]] * 6
    assert ids(list(track_frames(rounded, sample_rate=10))) == [[1]] * 6  # what rounding would do
    stitched = stitch_frames(FrameTracker(10), rounded, recorded, keep_masks=False)
    assert ids(list(stitched)) == one_host


def test_a_tracker_input_out_of_step_with_frames_jsonl_is_refused() -> None:
    """A range's recorded detections that do not match its frames.jsonl stop the merge with a
    reason, never a silently shifted track."""
    lines = [tracker_input_line(frame, with_masks=False) for frame in sliding(0.9)]
    with pytest.raises(ValueError, match="out of step"):
        list(stitch_frames(FrameTracker(10), sliding(0.9), lines[1:], keep_masks=False))
    with pytest.raises(ValueError, match="different number of frames"):
        list(stitch_frames(FrameTracker(10), sliding(0.9), lines[:-1], keep_masks=False))


def test_a_failed_merge_leaves_the_range_that_finished_done(s3: Any, tmp_path: Path) -> None:
    """The range a host completed keeps its marker, and gets no error record, when the merge that
    follows it fails: the merge failed, not the range."""
    options = {"track": "true", "end": "6"}
    plan = plan_split("d" * 32, s3_uri(INPUT_BUCKET, VIDEO_KEY), 2, options=options)
    run(s3, plan, tmp_path / "first", 1)
    first, second = (part_prefix(plan.job_id, range_part_id(i)) for i in range(2))
    s3.delete_object(Bucket=RESULTS_BUCKET, Key=second + MARKER_FILE)
    recorded = read(s3, first + TRACKER_INPUT_FILE).decode().splitlines(keepends=True)
    s3.put_object(Bucket=RESULTS_BUCKET, Key=first + TRACKER_INPUT_FILE, Body="".join(recorded[1:]).encode())

    [host] = jobs.run_hosts(
        s3, dispatch(s3, plan, attempt=2), tmp_path / "second", 1, child_env({}), module=DETECTOR
    )

    assert host.proc.returncode != 0, host.log()[-3000:]
    assert "out of step" in host.log() or "different number of frames" in host.log()
    assert PartMarker.from_json(read(s3, second + MARKER_FILE)).attempt == 2
    assert second + ERROR_FILE not in keys(s3, second)
