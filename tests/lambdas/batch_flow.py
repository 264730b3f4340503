"""Shared steps of the batch tests: upload a request document or a video, dispatch it as S3 would
notify it, and write what a host of the Processing job writes (through the contract's own writers)."""

from __future__ import annotations

import json
import time
from typing import Any

from lambda_stack import FakeContext, Stack, body_event

from lambdas.common.jobids import job_id_for, object_version
from lambdas.dispatch.handler import lambda_handler as dispatch_handler
from lambdas.results.handler import lambda_handler as results_handler
from reelsight.contract.batch import (
    BatchRequest,
    JobPlan,
    PartError,
    PartMarker,
    attempt_job_name,
    error_key,
    marker_key,
    part_prefix,
    plan_key,
)
from reelsight.contract.names import SUMMARY_FILE
from reelsight.contract.summary import RunSummary, Timings
from reelsight.local.processing_service import state_change_event

VIDEO = b"\x00\x00\x00\x18ftypmp42 not really a video"


def put(stack: Stack, key: str, body: bytes = VIDEO, **metadata: str) -> str:
    """Upload an object to the input bucket; returns the job id the dispatcher derives for it."""
    s3 = stack.client("s3")
    s3.put_object(Bucket=stack.input_bucket, Key=key, Body=body, Metadata=metadata)
    etag = s3.head_object(Bucket=stack.input_bucket, Key=key)["ETag"]
    return job_id_for(stack.input_bucket, key, object_version(None, etag))


def notification(stack: Stack, key: str) -> str:
    """The S3 event body S3 sends for the object now at ``key`` (moto's encoding of the key)."""
    etag = stack.client("s3").head_object(Bucket=stack.input_bucket, Key=key)["ETag"].strip('"')
    record = {
        "eventName": "ObjectCreated:Put",
        "eventTime": "2026-01-01T00:00:00.000Z",
        "s3": {"bucket": {"name": stack.input_bucket}, "object": {"key": key, "eTag": etag, "size": 10}},
    }
    return json.dumps({"Records": [record]})


def dispatch(stack: Stack, key: str) -> None:
    assert dispatch_handler(body_event(notification(stack, key)), FakeContext()) == {"batchItemFailures": []}


def request(stack: Stack, name: str, batch: BatchRequest) -> str:
    """Upload and dispatch ``batch/<name>.batch.json``; returns the request's job id."""
    key = f"batch/{name}.batch.json"
    job_id = put(stack, key, batch.to_json().encode())
    dispatch(stack, key)
    return job_id


def results_object(stack: Stack, key: str) -> bytes:
    return bytes(stack.client("s3").get_object(Bucket=stack.results_bucket, Key=key)["Body"].read())


def plan_of(stack: Stack, job_id: str) -> JobPlan:
    return JobPlan.from_json(results_object(stack, plan_key(job_id)))


def put_result(stack: Stack, key: str, text: str) -> None:
    stack.client("s3").put_object(Bucket=stack.results_bucket, Key=key, Body=text.encode())


def summary(frames: int, person: int = 1) -> RunSummary:
    return RunSummary(
        video={"uri": "s3://in/v.mp4", "width": 320, "height": 240, "fps": 30.0, "duration": 5.0},
        model={"name": "maskrcnn", "task": "instance_segmentation", "random_weights": True},
        params={"fps": 1.0},
        frames_sampled=frames,
        detections_total=person,
        counts_per_class={"person": person},
        timings=Timings(total=1.0, decode=0.1, inference=0.5),
        status="ok",
    )


def finish_part(stack: Stack, plan: JobPlan, part_id: str, frames: int, attempt: int = 1) -> None:
    """What a host writes for a part that finished: its summary, then its marker."""
    prefix = part_prefix(plan.job_id, part_id)
    put_result(stack, prefix + SUMMARY_FILE, json.dumps(summary(frames).to_json()))
    marker = PartMarker(
        part_id=part_id, status="ok", frames=frames, seconds=1.5, host="algo-1", attempt=attempt
    )
    put_result(stack, marker_key(plan.job_id, part_id), marker.to_json())


def fail_part(stack: Stack, plan: JobPlan, part_id: str, message: str, attempt: int = 1) -> None:
    part = next(p for p in plan.parts if p.part_id == part_id)
    error = PartError(
        part_id=part_id, video=part.video, type="VideoError", message=message, host="algo-2", attempt=attempt
    )
    put_result(stack, error_key(plan.job_id, part_id), error.to_json())


def job_event(stack: Stack, job_id: str, status: str, attempt: int = 1, **detail: Any) -> dict[str, Any]:
    """The state-change event of the job's attempt, built by the local Processing service's builder
    from the job's description as CreateProcessingJob took it."""
    name = attempt_job_name(job_id, attempt)
    [created] = [c for c in stack.calls["CreateProcessingJob"] if c["ProcessingJobName"] == name]
    now = time.time()
    record = {
        **created,
        "ProcessingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:processing-job/{name}",
        "ProcessingJobStatus": status,
        "CreationTime": now - 60,
        "ProcessingStartTime": now - 50,
        "LastModifiedTime": now,
        **({"ProcessingEndTime": now} if status in ("Completed", "Failed", "Stopped") else {}),
        **detail,
    }
    return state_change_event(record)


def deliver(*events: dict[str, Any]) -> None:
    assert results_handler(body_event(*(json.dumps(e) for e in events)), FakeContext()) == {
        "batchItemFailures": []
    }
