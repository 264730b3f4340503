"""The results Lambda at the end of batch and split jobs: markers and error records, as the hosts write
them, roll up into each video's record and the job's; events of an earlier attempt change nothing."""

from __future__ import annotations

import json

from batch_flow import (
    deliver,
    dispatch,
    fail_part,
    finish_part,
    job_event,
    plan_of,
    put,
    put_result,
    request,
    summary,
)
from lambda_stack import Stack

from reelsight.contract.batch import BatchRequest, PartMarker, marker_key, merged_prefix, part_job_id
from reelsight.contract.names import SUMMARY_FILE


def _five(stack: Stack) -> str:
    for name in ("a", "b", "c", "d", "e"):
        put(stack, f"library/five/{name}.mp4")
    return request(stack, "five", BatchRequest(prefix="library/five/", instance_count=2))


def test_four_markers_and_one_error_make_four_successes_one_failure_and_a_partial_batch(stack: Stack) -> None:
    job_id = _five(stack)
    plan = plan_of(stack, job_id)
    for frames, part_id in enumerate(("a", "b", "c", "e"), start=2):
        finish_part(stack, plan, part_id, frames=frames)
    fail_part(stack, plan, "d", "moov atom not found")
    deliver(job_event(stack, job_id, "InProgress"))
    assert stack.job(job_id)["status"] == "RUNNING"  # type: ignore[index]

    deliver(job_event(stack, job_id, "Completed"))

    videos = [stack.job(part_job_id(job_id, i)) for i in range(5)]
    assert [v["status"] for v in videos] == ["SUCCEEDED"] * 3 + ["FAILED", "SUCCEEDED"]  # type: ignore[index]
    assert [v.get("summary", {}).get("frames_sampled") for v in videos] == [2, 3, 4, None, 5]  # type: ignore[union-attr]
    assert videos[3]["reason"] == "VideoError: moov atom not found"  # type: ignore[index]
    job = stack.job(job_id)
    assert job is not None and job["status"] == "PARTIAL"
    assert job["failed_parts"] == ["d"]
    assert job["reason"] == "1 of 5 part(s) failed: d: VideoError: moov atom not found"
    notes = stack.notifications(expect=6)
    by_job = {n["Message"]["job_id"]: n["Message"] for n in notes}
    assert by_job[job_id]["status"] == "PARTIAL" and by_job[job_id]["summary"] == {
        "parts": 5,
        "done": 4,
        "failed": 1,
    }
    assert by_job[part_job_id(job_id, 0)]["summary"]["counts_per_class"] == {"person": 1}
    # The same event again changes nothing and notifies no one.
    deliver(job_event(stack, job_id, "Completed"))
    assert stack.notifications(wait=2) == []


def test_a_completed_job_without_markers_is_not_a_success(stack: Stack) -> None:
    put(stack, "library/none/a.mp4")
    job_id = request(stack, "none", BatchRequest(prefix="library/none/"))
    # A summary without its marker is not a finished part: the marker is written last.
    put_result(stack, f"jobs/{job_id}/output/a/{SUMMARY_FILE}", json.dumps(summary(3).to_json()))
    deliver(job_event(stack, job_id, "Completed"))
    job = stack.job(job_id)
    assert job is not None and job["status"] == "FAILED" and job["failed_parts"] == ["a"]
    assert stack.job(part_job_id(job_id, 0))["reason"] == "the part did not finish"  # type: ignore[index]


def test_frames_mode_videos_report_their_marker_counts(stack: Stack) -> None:
    put(stack, "library/frames/a.mp4")
    job_id = request(stack, "frames", BatchRequest(prefix="library/frames/", mode="frames"))
    marker = PartMarker(part_id="a", status="ok", frames=17, seconds=2.0, host="algo-1")
    put_result(stack, marker_key(job_id, "a"), marker.to_json())
    deliver(job_event(stack, job_id, "Completed"))
    video = stack.job(part_job_id(job_id, 0))
    assert video is not None and video["status"] == "SUCCEEDED" and video["summary"]["frames_sampled"] == 17


def test_an_event_of_an_earlier_attempt_is_stale(stack: Stack) -> None:
    for name in ("a", "b"):
        put(stack, f"library/late/{name}.mp4")
    job_id = request(stack, "late", BatchRequest(prefix="library/late/"))
    plan = plan_of(stack, job_id)
    finish_part(stack, plan, "a", frames=2)
    first_failed = job_event(stack, job_id, "Failed", FailureReason="AlgorithmError: out of memory")
    deliver(first_failed)
    request(stack, "late-again", BatchRequest(resume=job_id))
    stack.notifications(expect=3)

    deliver(first_failed)  # redelivered after the resume
    deliver(job_event(stack, job_id, "Completed", attempt=1))
    job = stack.job(job_id)
    assert job is not None and job["status"] == "QUEUED" and job["attempt"] == 2
    assert stack.job(part_job_id(job_id, 1))["status"] == "QUEUED"  # type: ignore[index]
    assert stack.notifications(wait=2) == []

    finish_part(stack, plan, "b", frames=5, attempt=2)
    deliver(job_event(stack, job_id, "Completed", attempt=2))
    job = stack.job(job_id)
    assert job is not None and job["status"] == "SUCCEEDED" and "failed_parts" not in job
    assert stack.job(part_job_id(job_id, 1))["status"] == "SUCCEEDED"  # type: ignore[index]
    assert {n["Message"]["job_id"] for n in stack.notifications(expect=2)} == {job_id, part_job_id(job_id, 1)}


def test_a_split_job_succeeds_with_its_merged_summary(stack: Stack) -> None:
    job_id = put(stack, "incoming/long.mp4", split="2")
    dispatch(stack, "incoming/long.mp4")
    plan = plan_of(stack, job_id)
    for index, part_id in enumerate(plan.part_ids):
        finish_part(stack, plan, part_id, frames=10 + index)
    merged = summary(21, person=9)
    put_result(stack, merged_prefix(job_id, "long") + SUMMARY_FILE, json.dumps(merged.to_json()))
    deliver(job_event(stack, job_id, "Completed"))
    job = stack.job(job_id)
    assert job is not None and job["status"] == "SUCCEEDED"
    assert job["summary"]["frames_sampled"] == 21 and job["summary"]["counts_per_class"] == {"person": 9}
    assert job["output_location"].endswith(f"jobs/{job_id}/output/long/")
    [note] = stack.notifications(expect=1)
    assert note["Message"]["summary"]["frames_sampled"] == 21


def test_a_split_job_with_a_missing_range_is_partial(stack: Stack) -> None:
    job_id = put(stack, "incoming/cut.mp4", split="3")
    dispatch(stack, "incoming/cut.mp4")
    plan = plan_of(stack, job_id)
    finish_part(stack, plan, plan.part_ids[0], frames=4)
    finish_part(stack, plan, plan.part_ids[2], frames=4)
    deliver(job_event(stack, job_id, "Failed", FailureReason="AlgorithmError: killed"))
    job = stack.job(job_id)
    assert job is not None and job["status"] == "PARTIAL" and job["failed_parts"] == ["range-0002"]
    assert "range-0002: AlgorithmError: killed" in job["reason"]
