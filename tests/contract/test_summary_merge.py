"""Merging the summaries of a video's consecutive time ranges (pure logic)."""

from __future__ import annotations

import pytest

from reelsight.contract.summary import RunSummary, Timings, merge_summaries

PARAMS = {"model": "ssdlite", "sampling": {"fps": 2.0, "start": 0.0, "end": None}}


def _range(frames: int, counts: dict[str, int], **extra: object) -> RunSummary:
    return RunSummary(
        video={"name": "long.mp4", "duration": 60.0},
        model={"name": "ssdlite"},
        params={**PARAMS, "sampling": {"fps": 2.0, "start": 20.0, "end": 40.0}},
        frames_sampled=frames,
        detections_total=sum(counts.values()),
        counts_per_class=counts,
        timings=Timings(),
        artifacts={"frames": "frames.jsonl", "summary": "summary.json", "contact_sheet": "contact_sheet.png"},
        **extra,  # type: ignore[arg-type]
    )


def test_counts_add_up_and_the_whole_runs_params_stand() -> None:
    merged = merge_summaries(
        [_range(40, {"car": 3, "person": 1}), _range(40, {"person": 4}, warnings=["w1"]), _range(40, {})],
        params=PARAMS,
    )
    assert (merged.frames_sampled, merged.detections_total) == (120, 8)
    assert merged.counts_per_class == {"person": 5, "car": 3}
    assert list(merged.counts_per_class) == ["person", "car"]  # most frequent first, as a run orders them
    assert merged.params == PARAMS
    assert merged.warnings == ["w1"]
    assert merged.status == "ok" and merged.unique_objects_per_class is None
    assert "contact_sheet" not in merged.artifacts  # drawn per range


def test_a_partial_range_makes_the_merge_partial_and_tracks_are_listed_when_stitched() -> None:
    merged = merge_summaries(
        [_range(10, {"car": 1}), _range(5, {}, partial=True, warnings=["cut short"])],
        params=PARAMS,
        unique_objects_per_class={"car": 1},
        more_warnings=["cut short", "tracking at 2 fps"],
    )
    assert merged.partial and merged.status == "partial"
    assert merged.warnings == ["cut short", "tracking at 2 fps"]  # each once, the ranges' first
    assert merged.unique_objects_per_class == {"car": 1} and merged.artifacts["tracks"] == "tracks.jsonl"


def test_nothing_to_merge_is_an_error() -> None:
    with pytest.raises(ValueError, match="nothing to merge"):
        merge_summaries([], params=PARAMS)
