"""An invocation made straight to the endpoint (no upload, so no job record yet): the results
handler records the job with SageMaker's input location as its video. The notification is what
the local endpoint publishes, in SageMaker's format."""

from __future__ import annotations

import json
import uuid

from lambda_stack import FakeContext, Stack, body_event

from lambdas.results.handler import lambda_handler
from reelsight.local.async_endpoint import AsyncRequest, success_notification
from reelsight.results import RunSummary, Timings


def test_a_direct_invocation_is_recorded_with_its_input_as_the_video(stack: Stack) -> None:
    s3 = stack.client("s3")
    job_id = uuid.uuid4().hex
    source = f"s3://{stack.input_bucket}/async-endpoint-inputs/notebook run/{uuid.uuid4()}"
    s3.put_object(Bucket=stack.input_bucket, Key=source.split("/", 3)[3], Body=b"video bytes")
    output_key = f"async/output/{uuid.uuid4()}.out"
    summary = RunSummary(
        video={"uri": source, "width": 160, "height": 120, "fps": 10.0, "duration": 1.0},
        model={"name": "ssdlite", "task": "detection", "random_weights": True},
        params={"fps": 1.0},
        frames_sampled=1,
        timings=Timings(total=0.5),
        status="ok",
    )
    s3.put_object(Bucket=stack.results_bucket, Key=output_key, Body=json.dumps(summary.to_json()).encode())
    request = AsyncRequest(
        inference_id=job_id,
        input_location=source,
        body=None,
        content_type="application/octet-stream",
        accept=None,
        custom_attributes=None,
        ttl=21600,
        timeout=900,
        output_location=f"s3://{stack.results_bucket}/{output_key}",
        failure_location=f"s3://{stack.results_bucket}/async/failure/{job_id}-error.out",
    )
    message = success_notification("endpoint", request, "application/json")
    envelope = {"Type": "Notification", "Message": json.dumps(message)}

    assert lambda_handler(body_event(json.dumps(envelope)), FakeContext()) == {"batchItemFailures": []}

    job = stack.job(job_id)
    assert job is not None
    assert job["status"] == "SUCCEEDED"
    assert job["source"] == source
    assert job["bucket"] == stack.input_bucket
    assert job["key"] == source.split("/", 3)[3]
    assert job["video"] == source.rsplit("/", 1)[-1]
