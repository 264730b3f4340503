"""The batch contract: request documents, plans, key layout, time ranges and the roll-up."""

from __future__ import annotations

import json
import math

import pytest

from reelsight.contract import batch
from reelsight.errors import ParamError

JOB = "0123456789abcdef0123456789abcdef"


def test_request_round_trips_and_normalizes_option_names() -> None:
    request = batch.BatchRequest.from_json(
        json.dumps(
            {"prefix": "batch/cams/", "mode": "frames", "options": {"Every-Seconds": 2, "size": "320x240"}}
        )
    )
    assert request.options == {"every_seconds": "2", "size": "320x240"}
    assert batch.BatchRequest.from_json(request.to_json()) == request


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("[]", "JSON object"),
        ("{not json", "must be JSON"),
        ('{"prefix": "a/", "videos": ["b.mp4"]}', "exactly one of"),
        ("{}", "exactly one of"),
        ('{"prefix": "a/", "mode": "paint"}', "mode must be one of"),
        ('{"prefix": "a/", "image_format": "gif"}', "image_format"),
        ('{"prefix": "a/", "instance_count": 0}', "instance_count"),
        ('{"prefix": "a/", "instance_count": true}', "whole number"),
        ('{"prefix": "a/", "bogus": 1}', "unknown batch request fields"),
        ('{"videos": ["a.mp4", "b.mp4"], "split": true}', "exactly one video"),
        ('{"prefix": "a/", "options": {"model": "x,y"}}', "must not contain"),
        ('{"videos": "a.mp4"}', "list of non-empty strings"),
    ],
)
def test_bad_requests_say_what_is_wrong(document: str, message: str) -> None:
    with pytest.raises(ParamError, match=message):
        batch.BatchRequest.from_json(document)


def test_batch_plan_names_parts_the_same_on_every_host() -> None:
    plan = batch.plan_batch(
        JOB, ["s3://in/batch/a/cam.mp4", "s3://in/batch/b/cam.mp4", "s3://in/batch/c.mov"]
    )
    assert plan.input_prefix == "s3://in/batch/"
    assert [p.relative_path for p in plan.parts] == ["a/cam.mp4", "b/cam.mp4", "c.mov"]
    assert plan.part_ids == ("a__cam_mp4", "b__cam_mp4", "c")
    assert [p.job_id for p in plan.parts] == [f"{JOB}-0001", f"{JOB}-0002", f"{JOB}-0003"]
    assert batch.JobPlan.from_json(plan.to_json()) == plan
    assert json.loads(batch.manifest_document(plan, plan.parts[1:])) == [
        {"prefix": "s3://in/batch/"},
        "b/cam.mp4",
        "c.mov",
    ]


def test_batch_plan_refuses_mixed_buckets_and_non_videos() -> None:
    with pytest.raises(ParamError, match="one bucket"):
        batch.plan_batch(JOB, ["s3://a/x.mp4", "s3://b/y.mp4"])
    with pytest.raises(ParamError, match="not videos"):
        batch.plan_batch(JOB, ["s3://a/x.mp4", "s3://a/notes.txt"])
    with pytest.raises(ParamError, match="no video"):
        batch.plan_batch(JOB, [])


def test_split_ranges_cover_the_sample_grid_once() -> None:
    interval = 1 / 3
    ranges = batch.split_ranges(start=0.5, stop=61.0, interval=interval, count=7, end=None)
    grid = [0.5 + k * interval for k in range(batch.sample_count(0.5, 61.0, interval))]
    taken = []
    for r in ranges:
        stop = r.end if r.end is not None else math.inf
        taken.extend(t for t in grid if r.start - 1e-6 <= t < stop - 1e-6)
    assert taken == grid  # no sample twice, none lost
    assert ranges[-1].end is None
    assert all(math.isclose((r.start - 0.5) / interval, round((r.start - 0.5) / interval)) for r in ranges)


def test_split_needs_a_sample_per_range() -> None:
    with pytest.raises(ParamError, match="fewer than the 4 ranges"):
        batch.split_ranges(start=0, stop=1.0, interval=0.5, count=4, end=None)


def test_attempt_names_round_trip() -> None:
    assert batch.attempt_job_name(JOB) == f"reelsight-{JOB}"
    assert batch.attempt_of(batch.attempt_job_name(JOB, 3)) == (JOB, 3)
    assert batch.attempt_of(f"reelsight-{JOB}") == (JOB, 1)
    assert batch.attempt_of("someone-else") is None
    assert len(batch.attempt_job_name(JOB, 99)) <= 63


def test_key_layout_keeps_ranges_out_of_the_output_folder() -> None:
    assert batch.marker_key(JOB, "cam1") == f"jobs/{JOB}/output/cam1/_done.json"
    assert batch.error_key(JOB, "cam1") == f"jobs/{JOB}/output/cam1/error.json"
    assert batch.marker_key(JOB, batch.range_part_id(0)) == f"jobs/{JOB}/ranges/range-0001/_done.json"
    assert batch.merged_prefix(JOB, "long") == f"jobs/{JOB}/output/long/"


def test_rollup_lists_failed_parts() -> None:
    plan = batch.plan_batch(JOB, [f"s3://in/batch/v{i}.mp4" for i in range(5)])
    done = ["v0", "v1", "v3", "v4"]
    result = batch.rollup(plan, done, {"v2": "VideoError: truncated"})
    assert result.status == "PARTIAL"
    assert result.failed == {"v2": "VideoError: truncated"}
    assert result.reason == "1 of 5 part(s) failed: v2: VideoError: truncated"
    assert batch.rollup(plan, [], {}, "AlgorithmError: boom").status == "FAILED"
    assert batch.rollup(plan, plan.part_ids, {}).status == "SUCCEEDED"
    assert [p.part_id for p in batch.pending_parts(plan, done)] == ["v2"]


def test_marker_and_error_round_trip() -> None:
    marker = batch.PartMarker(
        part_id="range-0002", status="ok", frames=40, seconds=1.5, host="algo-2", start=20.0
    )
    assert batch.PartMarker.from_json(marker.to_json()) == marker
    error = batch.PartError(
        part_id="v2", video="s3://in/v2.mp4", type="VideoError", message="bad", host="algo-1"
    )
    assert batch.PartError.from_json(error.to_json()).reason == "VideoError: bad"


def test_job_inputs_are_told_from_results() -> None:
    assert batch.is_job_input("plan.json") and batch.is_job_input("input-2.manifest")
    assert not batch.is_job_input("output/cam1/plan.json") and not batch.is_job_input("input-a.manifest")


def test_a_deployment_s_own_suffixes_are_honoured() -> None:
    plan = batch.plan_batch(JOB, ["s3://in/library/cam.dav"], suffixes=(".dav",))
    assert plan.part_ids == ("cam",)
    with pytest.raises(ParamError, match="not videos"):
        batch.plan_batch(JOB, ["s3://in/library/cam.dav"])


def test_a_split_result_lies_where_a_one_video_job_of_it_would() -> None:
    plan = batch.plan_split(JOB, "s3://in/library/long/match.final.mp4", 3)
    assert batch.split_result_prefix(plan) == f"jobs/{JOB}/output/match.final/"
