"""Idempotency as S3 states it: one job per write (version id, else sequencer), never one per ETag.

The events are in the format AWS documents for S3 event notifications (event version 2.1, with
``versionId`` on a versioned bucket and a ``sequencer`` on every record), for objects that really
are on the moto server, so the dispatcher heads what the event names.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote_plus

from lambda_stack import FakeContext, Stack, body_event

from lambdas.common.jobids import job_id_for
from lambdas.dispatch.handler import lambda_handler

BODY = b"\x00\x00\x00\x18ftypmp42 the same bytes twice"


def aws_s3_event(
    bucket: str, key: str, *, size: int, etag: str, sequencer: str, version_id: str | None = None
) -> str:
    """An SQS body as S3 writes it for ``s3:ObjectCreated:Put`` (AWS's documented structure)."""
    obj: dict[str, Any] = {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag}
    if version_id is not None:
        obj["versionId"] = version_id
    obj["sequencer"] = sequencer
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2026-12-01T10:00:00.000Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "192.0.2.10"},
        "responseElements": {"x-amz-request-id": uuid.uuid4().hex[:16].upper(), "x-amz-id-2": "example"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "uploads-incoming",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "A3EXAMPLE"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": obj,
        },
    }
    return json.dumps({"Records": [record]})


def _put(stack: Stack, key: str) -> dict[str, Any]:
    return dict(stack.client("s3").put_object(Bucket=stack.input_bucket, Key=key, Body=BODY))


def _event(stack: Stack, key: str, put: dict[str, Any], sequencer: str, versioned: bool) -> str:
    return aws_s3_event(
        stack.input_bucket,
        key,
        size=len(BODY),
        etag=put["ETag"].strip('"'),
        sequencer=sequencer,
        version_id=put["VersionId"] if versioned else None,
    )


def test_each_version_of_the_same_bytes_is_its_own_job_and_a_redelivery_is_not(stack: Stack) -> None:
    stack.client("s3").put_bucket_versioning(
        Bucket=stack.input_bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    key = "incoming/same clip.mp4"
    first, second = _put(stack, key), _put(stack, key)
    assert first["ETag"] == second["ETag"] and first["VersionId"] != second["VersionId"]
    events = [
        _event(stack, key, first, "0062E99A88DC407460", versioned=True),
        _event(stack, key, second, "0062E99A88DC407461", versioned=True),
    ]

    assert lambda_handler(body_event(*events), FakeContext()) == {"batchItemFailures": []}
    assert lambda_handler(body_event(events[0]), FakeContext()) == {"batchItemFailures": []}

    calls = stack.calls["InvokeEndpointAsync"]
    assert len(calls) == 2
    for put in (first, second):
        job = stack.job(job_id_for(stack.input_bucket, key, f"v:{put['VersionId']}"))
        assert job is not None
        assert job["version_id"] == put["VersionId"]
        assert len(job["status_history"]) == 1
    assert {c["InferenceId"] for c in calls} == {
        job_id_for(stack.input_bucket, key, f"v:{put['VersionId']}") for put in (first, second)
    }


def test_without_versions_the_sequencer_tells_writes_apart(stack: Stack) -> None:
    key = "incoming/unversioned.mp4"
    first, second = _put(stack, key), _put(stack, key)
    assert first["ETag"] == second["ETag"]
    one = _event(stack, key, first, "0062E99A88DC4074A0", versioned=False)
    two = _event(stack, key, second, "0062E99A88DC4074B7", versioned=False)

    assert lambda_handler(body_event(one, one), FakeContext()) == {"batchItemFailures": []}
    assert len(stack.calls["InvokeEndpointAsync"]) == 1
    assert lambda_handler(body_event(two), FakeContext()) == {"batchItemFailures": []}

    assert len(stack.calls["InvokeEndpointAsync"]) == 2
    for sequencer in ("0062E99A88DC4074A0", "0062E99A88DC4074B7"):
        assert stack.job(job_id_for(stack.input_bucket, key, f"s:{sequencer}")) is not None
