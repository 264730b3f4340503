"""The results handler: async notifications through real SNS -> SQS, Processing state changes, bad input."""

from __future__ import annotations

import json
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from lambda_stack import FakeContext, Stack, body_event, sqs_event

from lambdas.dispatch.handler import lambda_handler as dispatch_handler
from lambdas.results.handler import lambda_handler
from reelsight import envvars
from reelsight.contract.names import FRAMES_FILE, JOBS_PREFIX, SUMMARY_FILE
from reelsight.results import FrameResult, FramesWriter, RunSummary, ShortSummary, Timings
from reelsight.worker.artifacts import ArtifactStore
from reelsight.worker.handler import output_fn


def _dispatch(stack: Stack, key: str, **metadata: str) -> dict[str, Any]:
    """Upload and dispatch one object; returns its job record."""
    s3 = stack.client("s3")
    s3.put_object(Bucket=stack.input_bucket, Key=key, Body=b"video bytes", Metadata=metadata)
    etag = s3.head_object(Bucket=stack.input_bucket, Key=key)["ETag"].strip('"')
    record = {
        "eventName": "ObjectCreated:Put",
        "eventTime": "2026-01-01T00:00:00.000Z",
        "s3": {"bucket": {"name": stack.input_bucket}, "object": {"key": key, "eTag": etag}},
    }
    assert dispatch_handler(body_event(json.dumps({"Records": [record]})), FakeContext()) == {
        "batchItemFailures": []
    }
    [job] = stack.client("dynamodb").scan(TableName=stack.jobs_table)["Items"]
    found = stack.job(job["job_id"]["S"])
    assert found is not None
    return found


def _summary(frames: int = 3) -> RunSummary:
    return RunSummary(
        video={"uri": "s3://in/clip.mp4", "width": 320, "height": 240, "fps": 30.0, "duration": 5.0},
        model={"name": "maskrcnn", "task": "instance_segmentation", "random_weights": True},
        params={"fps": 1.0},
        frames_sampled=frames,
        detections_total=7,
        counts_per_class={"person": 5, "car": 2},
        timings=Timings(total=2.0, decode=0.25, inference=1.5),
        artifacts={"frames": FRAMES_FILE, "summary": SUMMARY_FILE},
        status="ok",
    )


def _frames(count: int) -> list[FrameResult]:
    return [FrameResult(frame_index=i * 30, timestamp=float(i), width=320, height=240) for i in range(count)]


def _put_output(stack: Stack, job_id: str, frames: int = 3) -> str:
    """What the worker leaves: artifacts uploaded by output_fn, and its answer as the async output."""
    s3 = stack.client("s3")
    with tempfile.TemporaryDirectory() as run_dir:
        with FramesWriter(Path(run_dir) / FRAMES_FILE) as writer:
            writer.write_all(_frames(frames))
        body = output_fn(
            _summary(frames),
            Path(run_dir),
            job_id=job_id,
            store=ArtifactStore(stack.results_bucket, JOBS_PREFIX, client=s3),
            max_response_bytes=10**6,
        )
    key = f"jobs/{job_id}/output/{uuid.uuid4()}.out"
    s3.put_object(Bucket=stack.results_bucket, Key=key, Body=body)
    return f"s3://{stack.results_bucket}/{key}"


def _put_older_output(stack: Stack, job_id: str, frames: int) -> str:
    """What a worker answered before the frames left the body: ``{"schema_version", "summary", "frames"}``."""
    summary = _summary(frames)
    document = {
        "schema_version": "1.0",
        "summary": summary.to_json(),
        "frames": [f.to_json() for f in _frames(frames)],
    }
    key = f"jobs/{job_id}/output/{uuid.uuid4()}.out"
    stack.client("s3").put_object(Bucket=stack.results_bucket, Key=key, Body=json.dumps(document).encode())
    return f"s3://{stack.results_bucket}/{key}"


def _async_message(job: dict[str, Any], status: str, **extra: Any) -> dict[str, Any]:
    message = {
        "awsRegion": "us-east-1",
        "receivedTime": "2026-01-01T00:00:01.000Z",
        "eventTime": "2026-01-01T00:01:01.500Z",
        "invocationStatus": status,
        "inferenceId": job["job_id"],
        "eventVersion": "1.0",
        "eventSource": "aws:sagemaker",
        "eventName": "InferenceResult",
        "requestParameters": {
            "endpointName": "ep",
            "inputLocation": job["source"],
            "contentType": "video/mp4",
        },
        "responseParameters": {"contentType": "application/json"},
    }
    message.update(extra)
    return message


def _through_sns(stack: Stack, *messages: dict[str, Any]) -> dict[str, Any]:
    """Publish SageMaker-style notifications on a topic, and receive them from a subscribed queue."""
    sns, sqs = stack.client("sns"), stack.client("sqs")
    topic = sns.create_topic(Name=f"rs-async-{uuid.uuid4().hex[:8]}")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"rs-async-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    for message in messages:
        sns.publish(TopicArn=topic, Message=json.dumps(message))
    received = stack.receive_all(queue, expect=len(messages))
    assert len(received) == len(messages)
    order = {json.dumps(m): i for i, m in enumerate(messages)}
    received.sort(key=lambda m: order.get(json.loads(m["Body"])["Message"], 0))
    return sqs_event(received)


def test_async_success_updates_the_job_and_notifies_with_a_summary(stack: Stack) -> None:
    job = _dispatch(stack, "incoming/street cam/clip.mp4", fps="2")
    output = _put_output(stack, job["job_id"])
    event = _through_sns(
        stack, _async_message(job, "Completed", responseParameters={"outputLocation": output})
    )

    assert lambda_handler(event, FakeContext()) == {"batchItemFailures": []}

    updated = stack.job(job["job_id"])
    assert updated is not None
    assert updated["status"] == "SUCCEEDED"
    assert updated["output_location"] == output
    assert updated["summary"]["frames_sampled"] == 3
    assert updated["summary"]["counts_per_class"] == {"person": 5, "car": 2}
    assert updated["durations"]["endpoint_seconds"] == pytest.approx(60.5)
    assert [h["status"] for h in updated["status_history"]] == ["QUEUED", "SUCCEEDED"]
    [note] = stack.notifications(expect=1)
    assert note["Subject"] == f"reelsight SUCCEEDED: clip.mp4 (job {job['job_id'][:12]})"
    body = note["Message"]
    assert body["job_id"] == job["job_id"] and body["status"] == "SUCCEEDED"
    assert body["video"] == "clip.mp4"
    assert body["links"]["output_location"] == output
    assert body["links"]["results_prefix"] == f"s3://{stack.results_bucket}/jobs/{job['job_id']}/"
    assert body["summary"]["detections_total"] == 7
    assert body["summary"]["model"] == "maskrcnn" and body["summary"]["random_weights"] is True
    # One short form: the notification's and the record's are the worker's summary, shortened.
    bucket, key = output.removeprefix("s3://").split("/", 1)
    answered = stack.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body["summary"] == RunSummary.from_output(json.loads(answered)).short().to_json()
    assert ShortSummary.from_json(updated["summary"]) == ShortSummary.from_json(body["summary"])
    assert note["MessageAttributes"]["status"]["Value"] == "SUCCEEDED"


def test_async_error_then_duplicates_and_late_messages_change_nothing(stack: Stack) -> None:
    job = _dispatch(stack, "incoming/broken.mp4")
    failure = f"s3://{stack.results_bucket}/jobs/{job['job_id']}/failure/x.out"
    failed = _async_message(
        job,
        "Failed",
        failureReason="ClientError: video is not decodable",
        responseParameters={"failureLocation": failure},
    )
    event = _through_sns(stack, failed)
    assert lambda_handler(event, FakeContext()) == {"batchItemFailures": []}
    assert lambda_handler(event, FakeContext()) == {"batchItemFailures": []}  # redelivery
    late_success = _through_sns(stack, _async_message(job, "Completed"))
    assert lambda_handler(late_success, FakeContext()) == {"batchItemFailures": []}

    updated = stack.job(job["job_id"])
    assert updated is not None and updated["status"] == "FAILED"
    assert updated["reason"] == "ClientError: video is not decodable"
    assert updated["failure_location"] == failure
    assert [h["status"] for h in updated["status_history"]] == ["QUEUED", "FAILED"]
    notes = stack.notifications(expect=2, wait=3)
    assert len(notes) == 1 and notes[0]["Message"]["reason"] == "ClientError: video is not decodable"


def test_error_after_success_is_ignored(stack: Stack) -> None:
    job = _dispatch(stack, "incoming/ok.mp4")
    output = _put_output(stack, job["job_id"])
    event = _through_sns(
        stack,
        _async_message(job, "Completed", responseParameters={"outputLocation": output}),
        _async_message(job, "Failed", failureReason="late error"),
    )
    assert lambda_handler(event, FakeContext()) == {"batchItemFailures": []}
    # A later batch with another late error changes nothing either.
    late = _through_sns(stack, _async_message(job, "Failed", failureReason="later"))
    assert lambda_handler(late, FakeContext()) == {"batchItemFailures": []}
    updated = stack.job(job["job_id"])
    assert updated is not None and updated["status"] == "SUCCEEDED" and "reason" not in updated
    notes = stack.notifications(expect=2, wait=3)
    assert [n["Message"]["status"] for n in notes] == ["SUCCEEDED"]


def _complete(stack: Stack, job: dict[str, Any], output: str) -> dict[str, Any]:
    event = _through_sns(
        stack, _async_message(job, "Completed", responseParameters={"outputLocation": output})
    )
    assert lambda_handler(event, FakeContext()) == {"batchItemFailures": []}
    updated = stack.job(job["job_id"])
    assert updated is not None and updated["status"] == "SUCCEEDED"
    return updated


def test_the_body_of_a_long_run_is_read_whole_and_stays_small(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(envvars.RESULTS_MAX_FETCH_BYTES, "4096")
    job = _dispatch(stack, "incoming/long.mp4")
    output = _put_output(stack, job["job_id"], frames=2000)
    s3 = stack.client("s3")
    bucket, key = output.removeprefix("s3://").split("/", 1)
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] < 4096  # no frames in the body
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    # Read from the body, not from the summary.json beside frames.jsonl.
    s3.delete_object(Bucket=bucket, Key=f"jobs/{job['job_id']}/artifacts/{SUMMARY_FILE}")
    updated = _complete(stack, job, output)
    assert ShortSummary.from_json(updated["summary"]) == RunSummary.from_output(json.loads(body)).short()
    assert updated["summary"]["frames_sampled"] == 2000
    assert updated["summary"]["timings"] == _summary().timings.to_json()
    assert updated["summary"]["artifacts"]["frames"].endswith(
        f"/jobs/{job['job_id']}/artifacts/{FRAMES_FILE}"
    )


def test_an_older_workers_document_is_read_by_its_summary_key(stack: Stack) -> None:
    job = _dispatch(stack, "incoming/older.mp4")
    updated = _complete(stack, job, _put_older_output(stack, job["job_id"], frames=3))
    assert updated["summary"]["frames_sampled"] == 3
    assert updated["summary"]["counts_per_class"] == {"person": 5, "car": 2}


def test_an_older_document_too_large_to_fetch_falls_back_to_the_uploaded_summary(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(envvars.RESULTS_MAX_FETCH_BYTES, "4096")
    job = _dispatch(stack, "incoming/older-long.mp4")
    output = _put_older_output(stack, job["job_id"], frames=2000)
    # Older workers uploaded summary.json beside frames.jsonl as well.
    stack.client("s3").put_object(
        Bucket=stack.results_bucket,
        Key=f"jobs/{job['job_id']}/artifacts/{SUMMARY_FILE}",
        Body=json.dumps(_summary(2000).to_json()).encode(),
    )
    assert _complete(stack, job, output)["summary"]["frames_sampled"] == 2000


def test_unreadable_output_still_succeeds_with_a_warning(stack: Stack) -> None:
    job = _dispatch(stack, "incoming/odd.mp4")
    missing = f"s3://{stack.results_bucket}/jobs/{job['job_id']}/output/missing.out"
    event = _through_sns(
        stack, _async_message(job, "Completed", responseParameters={"outputLocation": missing})
    )
    assert lambda_handler(event, FakeContext()) == {"batchItemFailures": []}
    updated = stack.job(job["job_id"])
    assert updated is not None and updated["status"] == "SUCCEEDED" and updated["warnings"]
    [note] = stack.notifications(expect=1)
    assert "summary" not in note["Message"]


def test_malformed_messages_are_dropped_and_well_formed_ones_in_the_batch_still_apply(stack: Stack) -> None:
    job = _dispatch(stack, "incoming/mixed.mp4")
    event = body_event(
        "not json at all",
        json.dumps([1, 2, 3]),
        json.dumps({"Type": "Notification", "Message": "{broken"}),
        json.dumps({"invocationStatus": "Completed"}),  # no inferenceId
        json.dumps({"inferenceId": job["job_id"], "invocationStatus": "Exploded"}),
        json.dumps({"detail-type": "Something Else", "detail": {}}),
        json.dumps({"detail-type": "SageMaker Processing Job State Change", "detail": "x"}),
        json.dumps(_async_message(job, "Failed", failureReason="boom")),  # raw delivery, valid
    )
    assert lambda_handler(event, FakeContext()) == {"batchItemFailures": []}
    updated = stack.job(job["job_id"])
    assert updated is not None and updated["status"] == "FAILED" and updated["reason"] == "boom"
    assert lambda_handler({"unexpected": True}, FakeContext())["action"] == "malformed"


def _processing_event(job_id: str, status: str, **detail: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "SageMaker Processing Job State Change",
        "source": "aws.sagemaker",
        "account": "123456789012",
        "time": "2026-01-01T01:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "ProcessingJobName": f"reelsight-{job_id}",
            "ProcessingJobStatus": status,
            "CreationTime": 1767225600000,
            **detail,
        },
    }


def test_processing_state_changes_through_sqs(stack: Stack) -> None:
    job = _dispatch(stack, "batch/cam/night.mp4")
    job_id = job["job_id"]
    assert job["route"] == "processing"
    output_prefix = f"jobs/{job_id}/output/"
    stack.client("s3").put_object(
        Bucket=stack.results_bucket,
        Key=output_prefix + "night/summary.json",
        Body=json.dumps(_summary(12).to_json()).encode(),
    )
    started = _processing_event(job_id, "InProgress", ProcessingStartTime=1767225660000)
    completed = _processing_event(
        job_id,
        "Completed",
        ProcessingStartTime=1767225660000,
        ProcessingEndTime=1767226260000,
        ProcessingOutputConfig={
            "Outputs": [{"S3Output": {"S3Uri": f"s3://{stack.results_bucket}/{output_prefix}"}}]
        },
    )

    assert lambda_handler(body_event(json.dumps(started)), FakeContext()) == {"batchItemFailures": []}
    running = stack.job(job_id)
    assert (
        running is not None
        and running["status"] == "RUNNING"
        and running["started_at"].startswith("2026-01-01T00:01")
    )
    assert lambda_handler(body_event(json.dumps(completed)), FakeContext()) == {"batchItemFailures": []}
    # A late InProgress (out of order) and a stranger's job change nothing.
    stranger = _processing_event("x", "Failed")
    stranger["detail"]["ProcessingJobName"] = "someone-elses-job"
    assert lambda_handler(body_event(json.dumps(started), json.dumps(stranger)), FakeContext()) == {
        "batchItemFailures": []
    }

    done = stack.job(job_id)
    assert done is not None and done["status"] == "SUCCEEDED"
    assert [h["status"] for h in done["status_history"]] == ["QUEUED", "RUNNING", "SUCCEEDED"]
    assert done["summary"]["frames_sampled"] == 12
    assert done["durations"]["processing_seconds"] == pytest.approx(600.0)
    [note] = stack.notifications(expect=1)
    assert note["Message"]["summary"]["counts_per_class"] == {"person": 5, "car": 2}
    assert note["Message"]["route"] == "processing"


def test_processing_failure_and_stop_record_the_reason(stack: Stack) -> None:
    job = _dispatch(stack, "batch/fails.mp4")
    failed = _processing_event(job["job_id"], "Failed", FailureReason="AlgorithmError: CUDA out of memory")
    assert lambda_handler(body_event(json.dumps(failed)), FakeContext()) == {"batchItemFailures": []}
    done = stack.job(job["job_id"])
    assert done is not None and done["status"] == "FAILED" and "CUDA out of memory" in done["reason"]
    [note] = stack.notifications(expect=1)
    assert note["Subject"].startswith("reelsight FAILED: fails.mp4")


class BrokenTable:
    """A DynamoDB client whose every call is throttled."""

    def __getattr__(self, name: str) -> Any:
        from botocore.exceptions import ClientError

        def fail(**_: Any) -> Any:
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}}, name
            )

        return fail


def test_transient_failure_becomes_an_item_failure(stack: Stack) -> None:
    from lambda_stack import instrumented_clients

    from lambdas.common.clients import set_clients

    set_clients(instrumented_clients(stack, dynamodb=BrokenTable()))
    message = {"inferenceId": "abc", "invocationStatus": "Completed"}
    event = body_event(json.dumps(message))
    assert lambda_handler(event, FakeContext()) == {
        "batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]
    }


@pytest.mark.parametrize(
    "event",
    [
        {
            "detail-type": "SageMaker Processing Job State Change",
            "detail": {"ProcessingJobName": "reelsight-x"},
        },
        {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": "{}"}}]},
        {"Records": []},
        [],
    ],
)
def test_a_trigger_that_is_not_deployed_is_refused_with_a_reason(event: Any) -> None:
    """Only the results queue's SQS event source is deployed; anything else is malformed, not a crash."""
    answer = lambda_handler(event, FakeContext())
    assert answer["action"] == "malformed" and "not an SQS batch" in answer["error"]
