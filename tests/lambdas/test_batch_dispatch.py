"""The dispatcher on batch, split and resume requests, on the moto server: what it writes (plan,
manifest, records) and the Processing job it starts, or the reason it refuses."""

from __future__ import annotations

import json

from batch_flow import (
    deliver,
    dispatch,
    fail_part,
    finish_part,
    job_event,
    notification,
    plan_of,
    put,
    request,
    results_object,
)
from lambda_stack import FakeContext, Stack, body_event

from lambdas.dispatch.handler import lambda_handler as dispatch_handler
from reelsight import envvars
from reelsight.contract.batch import BatchRequest, manifest_key, part_job_id


def _started(stack: Stack) -> list[dict]:
    return stack.calls.get("CreateProcessingJob", [])


def _rejected(stack: Stack, job_id: str, named: str) -> None:
    job = stack.job(job_id)
    assert job is not None and job["status"] == "REJECTED", job
    assert named in job["reason"], job["reason"]
    [note] = stack.notifications(expect=1)
    assert note["Message"]["status"] == "REJECTED" and named in note["Message"]["reason"]
    assert not _started(stack)


def test_a_prefix_batch_runs_its_videos_and_lists_what_it_skipped(stack: Stack) -> None:
    for key in (
        "library/cams/a.mp4",
        "library/cams/b.MOV",
        "library/cams/notes.txt",
        "library/cams/night/c.mkv",
    ):
        put(stack, key)
    job_id = request(
        stack,
        "cams",
        BatchRequest(prefix="library/cams/", instance_count=2, mode="frames", options={"fps": "2"}),
    )

    [created] = _started(stack)
    assert created["ProcessingJobName"] == f"reelsight-{job_id}"
    video, plan_input = created["ProcessingInputs"]
    assert video["InputName"] == "video" and video["S3Input"]["S3DataType"] == "ManifestFile"
    assert video["S3Input"]["S3DataDistributionType"] == "ShardedByS3Key"
    assert video["S3Input"]["S3Uri"] == f"s3://{stack.results_bucket}/{manifest_key(job_id, 1)}"
    assert plan_input["S3Input"]["S3Uri"] == f"s3://{stack.results_bucket}/jobs/{job_id}/plan.json"
    assert plan_input["S3Input"]["LocalPath"] == "/opt/ml/processing/input/plan"
    assert created["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 2
    assert created["Environment"][envvars.ATTEMPT] == "1" and created["Environment"][envvars.FPS] == "2"
    manifest = json.loads(results_object(stack, manifest_key(job_id, 1)))
    assert manifest == [
        {"prefix": f"s3://{stack.input_bucket}/library/cams/"},
        "a.mp4",
        "b.MOV",
        "night/c.mkv",
    ]
    plan = plan_of(stack, job_id)
    assert plan.kind == "batch" and plan.mode == "frames" and plan.part_ids == ("a", "b", "c")
    job = stack.job(job_id)
    assert job is not None and job["status"] == "QUEUED" and "submitted_at" in job
    assert (job["kind"], job["parts"], job["attempt"], job["instance_count"]) == ("batch", 3, 1, 2)
    assert job["skipped_keys"] == ["library/cams/notes.txt"]
    for index, part in enumerate(plan.parts):
        video_job = stack.job(part_job_id(job_id, index))
        assert video_job is not None and video_job["status"] == "QUEUED"
        assert video_job["batch_id"] == job_id and video_job["source"] == part.video
        assert video_job["results_prefix"].endswith(f"jobs/{job_id}/output/{part.part_id}/")


def test_explicit_videos_with_one_missing_are_rejected_naming_it(stack: Stack) -> None:
    put(stack, "library/in/here.mp4")
    job_id = request(
        stack,
        "two",
        BatchRequest(videos=("library/in/here.mp4", f"s3://{stack.input_bucket}/library/in/gone.mp4")),
    )
    _rejected(stack, job_id, "library/in/gone.mp4")


def test_a_video_in_another_bucket_is_rejected(stack: Stack) -> None:
    job_id = request(stack, "elsewhere", BatchRequest(videos=("s3://someone-else/v.mp4",)))
    _rejected(stack, job_id, "must be in the input bucket")


def test_videos_outside_the_prefixes_jobs_may_read_are_rejected(stack: Stack) -> None:
    put(stack, "private/a.mp4")
    job_id = request(stack, "private", BatchRequest(prefix="private/"))
    _rejected(stack, job_id, "batch videos must be under incoming/, batch/, library/")


def test_an_empty_prefix_is_rejected(stack: Stack) -> None:
    put(stack, "library/docs/readme.txt")
    job_id = request(stack, "empty", BatchRequest(prefix="library/docs/"))
    _rejected(stack, job_id, f"the prefix s3://{stack.input_bucket}/library/docs/ holds no video")


def test_more_instances_than_videos_is_rejected(stack: Stack) -> None:
    put(stack, "library/few/a.mp4")
    put(stack, "library/few/b.mp4")
    job_id = request(stack, "few", BatchRequest(prefix="library/few/", instance_count=3))
    _rejected(stack, job_id, "instance_count 3 is more than the 2 video(s)")


def test_invalid_run_options_and_documents_are_rejected(stack: Stack) -> None:
    put(stack, "library/opt/a.mp4")
    job_id = request(stack, "badfps", BatchRequest(prefix="library/opt/", options={"fps": "1e308"}))
    _rejected(stack, job_id, "fps must be a number")
    key = "batch/broken.batch.json"
    broken = put(stack, key, b"{not json")
    dispatch(stack, key)
    _rejected(stack, broken, "must be JSON")


def test_duplicate_delivery_starts_one_job(stack: Stack) -> None:
    put(stack, "library/dup/a.mp4")
    key = "batch/dup.batch.json"
    job_id = put(stack, key, BatchRequest(prefix="library/dup/").to_json().encode())
    body = notification(stack, key)
    assert dispatch_handler(body_event(body, body), FakeContext()) == {"batchItemFailures": []}
    dispatch(stack, key)
    assert [c["ProcessingJobName"] for c in _started(stack)] == [f"reelsight-{job_id}"]
    assert len(stack.client("dynamodb").scan(TableName=stack.jobs_table)["Items"]) == 2  # batch + video


def test_an_upload_with_split_metadata_is_one_video_over_n_instances(stack: Stack) -> None:
    job_id = put(stack, "incoming/long/match.mp4", split="3")
    dispatch(stack, "incoming/long/match.mp4")
    [created] = _started(stack)
    assert created["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 3
    assert created["ProcessingInputs"][0]["S3Input"]["S3DataDistributionType"] == "FullyReplicated"
    assert json.loads(results_object(stack, manifest_key(job_id, 1)))[1:] == ["match.mp4"]
    plan = plan_of(stack, job_id)
    assert plan.kind == "split" and plan.ranges == 3
    job = stack.job(job_id)
    assert job is not None and (job["kind"], job["parts"], job["video"]) == ("split", 3, "match.mp4")
    assert "InvokeEndpointAsync" not in stack.calls or not stack.calls["InvokeEndpointAsync"]


def test_resuming_a_partial_batch_reruns_only_its_unfinished_videos(stack: Stack) -> None:
    for name in ("a", "b", "c"):
        put(stack, f"library/res/{name}.mp4")
    job_id = request(stack, "res", BatchRequest(prefix="library/res/", instance_count=3))
    plan = plan_of(stack, job_id)
    finish_part(stack, plan, "a", frames=4)
    fail_part(stack, plan, "b", "moov atom not found")
    deliver(job_event(stack, job_id, "Failed", FailureReason="AlgorithmError: host algo-3 died"))
    job = stack.job(job_id)
    assert job is not None and job["status"] == "PARTIAL"
    stack.notifications(expect=4)  # the three videos and the batch

    resume_id = request(stack, "res-again", BatchRequest(resume=job_id))

    names = [c["ProcessingJobName"] for c in _started(stack)]
    assert names == [f"reelsight-{job_id}", f"reelsight-{job_id}--a2"]
    second = _started(stack)[1]
    assert second["Environment"][envvars.ATTEMPT] == "2"
    assert second["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 2
    assert second["ProcessingInputs"][0]["S3Input"]["S3Uri"].endswith(manifest_key(job_id, 2))
    assert json.loads(results_object(stack, manifest_key(job_id, 2)))[1:] == ["b.mp4", "c.mp4"]
    resumed = stack.job(job_id)
    assert resumed is not None and resumed["status"] == "QUEUED" and resumed["attempt"] == 2
    assert resumed["resumed_by"] == resume_id and "failed_parts" not in resumed
    assert "resumed as attempt 2" in resumed["status_history"][-1]["reason"]
    statuses = [stack.job(part_job_id(job_id, i))["status"] for i in range(3)]  # type: ignore[index]
    assert statuses == ["SUCCEEDED", "QUEUED", "QUEUED"]
    assert stack.job(resume_id) is None  # the request is recorded on the job it resumed


def test_a_job_that_cannot_resume_is_refused_with_the_reason(stack: Stack) -> None:
    put(stack, "library/ok/a.mp4")
    job_id = request(stack, "ok", BatchRequest(prefix="library/ok/"))
    finish_part(stack, plan_of(stack, job_id), "a", frames=2)
    deliver(job_event(stack, job_id, "Completed"))
    stack.notifications(expect=2)
    stack.calls["CreateProcessingJob"].clear()

    again = request(stack, "ok-again", BatchRequest(resume=job_id))
    _rejected(stack, again, f"job {job_id} is SUCCEEDED, nothing to resume")
    unknown = request(stack, "nobody", BatchRequest(resume="f" * 32))
    _rejected(stack, unknown, "does not exist")


def test_a_split_request_cuts_its_one_video_into_the_instances_asked_for(stack: Stack) -> None:
    put(stack, "library/long/final.mkv")
    job_id = request(
        stack, "final", BatchRequest(videos=("library/long/final.mkv",), split=True, instance_count=4)
    )
    [created] = _started(stack)
    assert created["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 4
    assert created["ProcessingInputs"][0]["S3Input"]["S3DataDistributionType"] == "FullyReplicated"
    plan = plan_of(stack, job_id)
    assert plan.kind == "split" and plan.part_ids == ("range-0001", "range-0002", "range-0003", "range-0004")
    job = stack.job(job_id)
    assert (
        job is not None
        and job["kind"] == "split"
        and job["source"] == f"s3://{stack.input_bucket}/library/long/final.mkv"
    )
    assert stack.job(part_job_id(job_id, 0)) is None  # ranges have no records of their own
