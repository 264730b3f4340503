"""The dispatcher on real S3 notifications from the moto server."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError
from lambda_stack import FakeContext, Stack, body_event, instrumented_clients, processing_job, sqs_event

from lambdas.common.clients import set_clients
from lambdas.common.jobids import job_id_for, object_version
from lambdas.dispatch.handler import lambda_handler
from reelsight import envvars
from reelsight.contract.batch import JobPlan
from reelsight.contract.names import BATCH_PREFIX, STATUS_INDEX, UPLOAD_PREFIX, WATCHED_PREFIXES

KEYS = [
    "incoming/plain.mp4",
    "incoming/with space/clip one.mp4",
    "incoming/plus+sign/a+b.mov",
    "incoming/percent%20literal/100%.mkv",
    "incoming/ünïcødé/视频 ✓.webm",
    "incoming/deep/nested/prefix/x/y/z.mp4",
]


def _notify_uploads(stack: Stack, prefixes: tuple[str, ...] = (UPLOAD_PREFIX,)) -> None:
    """Prefix-only notifications to the upload queue, one per prefix, as the data stack declares them."""
    sqs, s3 = stack.client("sqs"), stack.client("s3")
    arn = sqs.get_queue_attributes(QueueUrl=stack.upload_queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=stack.input_bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
                }
                for prefix in prefixes
            ]
        },
    )


def _receive_uploads(stack: Stack, count: int, wait: float = 15.0) -> list[dict[str, Any]]:
    """Upload-queue messages until ``count`` object events arrived (s3:TestEvents come along too)."""
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + wait
    while sum("s3:TestEvent" not in m["Body"] for m in messages) < count and time.monotonic() < deadline:
        messages += stack.receive_all(stack.upload_queue_url, expect=1, wait=2)
    return messages


def _put(
    stack: Stack, key: str, body: bytes = b"\x00\x00\x00\x18ftypmp42 not really a video", **metadata: str
) -> None:
    stack.client("s3").put_object(Bucket=stack.input_bucket, Key=key, Body=body, Metadata=metadata)


def _job_id(stack: Stack, key: str) -> str:
    head = stack.client("s3").head_object(Bucket=stack.input_bucket, Key=key)
    return job_id_for(stack.input_bucket, key, object_version(None, head["ETag"]))


def test_real_notifications_with_awkward_keys_start_one_invocation_each(stack: Stack) -> None:
    _notify_uploads(stack)
    test_events = stack.receive_all(stack.upload_queue_url, expect=1, wait=5)
    assert any("s3:TestEvent" in m["Body"] for m in test_events)
    for i, key in enumerate(KEYS):
        _put(stack, key, body=f"video {i}".encode(), fps="2", model="fasterrcnn")
    messages = test_events + stack.receive_all(stack.upload_queue_url, expect=len(KEYS))
    assert len(messages) == len(KEYS) + len(test_events)

    response = lambda_handler(sqs_event(messages), FakeContext())

    assert response == {"batchItemFailures": []}
    calls = stack.calls["InvokeEndpointAsync"]
    assert sorted(c["InputLocation"] for c in calls) == sorted(f"s3://{stack.input_bucket}/{k}" for k in KEYS)
    for key in KEYS:
        job_id = _job_id(stack, key)
        job = stack.job(job_id)
        assert job is not None, key
        assert job["key"] == key
        assert job["source"] == f"s3://{stack.input_bucket}/{key}"
        assert job["status"] == "QUEUED"
        assert job["route"] == "async"
        assert job["params"] == {"fps": "2", "model": "fasterrcnn"}
        assert job["inference_id"] == job_id
        assert job["output_location"].startswith("s3://")
        assert job["status_history"][0]["status"] == "QUEUED"
        call = next(c for c in calls if c["InferenceId"] == job_id)
        assert call["EndpointName"] == stack.env[envvars.ENDPOINT_NAME]
        source_uri = quote(f"s3://{stack.input_bucket}/{key}", safe="/:")
        assert call["CustomAttributes"] == f"job_id={job_id},fps=2,model=fasterrcnn,video_uri={source_uri}"
        assert call["InvocationTimeoutSeconds"] == 3600
        assert call["RequestTTLSeconds"] == 21600
    # The status index lists them.
    queued = stack.client("dynamodb").query(
        TableName=stack.jobs_table,
        IndexName=STATUS_INDEX,
        KeyConditionExpression="#s = :q",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":q": {"S": "QUEUED"}},
    )
    assert queued["Count"] == len(KEYS)


def test_moto_and_aws_key_encodings_map_to_the_same_job(stack: Stack) -> None:
    key = "incoming/a dir/b+c.mp4"
    _put(stack, key)
    etag = stack.client("s3").head_object(Bucket=stack.input_bucket, Key=key)["ETag"].strip('"')

    def body(encoded_key: str) -> str:
        record = {
            "eventName": "ObjectCreated:Put",
            "s3": {
                "bucket": {"name": stack.input_bucket},
                "object": {"key": encoded_key, "size": 10, "eTag": etag},
            },
        }
        return json.dumps({"Records": [record]})

    aws_style = "incoming/a+dir/b%2Bc.mp4"
    moto_style = "incoming%2Fa+dir%2Fb%2Bc.mp4"
    first = lambda_handler(body_event(body(aws_style)), FakeContext())
    second = lambda_handler(body_event(body(moto_style)), FakeContext())
    assert first == second == {"batchItemFailures": []}
    assert len(stack.calls["InvokeEndpointAsync"]) == 1
    assert stack.calls["InvokeEndpointAsync"][0]["InputLocation"] == f"s3://{stack.input_bucket}/{key}"


def test_duplicate_delivery_starts_one_invocation(stack: Stack) -> None:
    _notify_uploads(stack)
    stack.receive_all(stack.upload_queue_url, expect=1, wait=5)
    _put(stack, "incoming/dup.mp4")
    messages = stack.receive_all(stack.upload_queue_url, expect=1)
    event = sqs_event(messages)
    assert lambda_handler(event, FakeContext()) == {"batchItemFailures": []}
    # Redelivered alone, and twice inside one batch.
    assert lambda_handler(event, FakeContext()) == {"batchItemFailures": []}
    doubled = sqs_event(messages + [{**messages[0], "MessageId": "another-id"}])
    assert lambda_handler(doubled, FakeContext()) == {"batchItemFailures": []}
    assert len(stack.calls["InvokeEndpointAsync"]) == 1
    job = stack.job(_job_id(stack, "incoming/dup.mp4"))
    assert job is not None and len(job["status_history"]) == 1


class ThrottlingRuntime:
    """A sagemaker-runtime stand-in that throttles chosen inputs and delegates the rest to moto."""

    def __init__(self, real: Any, throttle_when: str) -> None:
        self.real = real
        self.throttle_when = throttle_when
        self.calls: list[dict[str, Any]] = []

    def invoke_endpoint_async(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        if self.throttle_when and self.throttle_when in params["InputLocation"]:
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "InvokeEndpointAsync"
            )
        return dict(self.real.invoke_endpoint_async(**params))


def test_middle_record_throttled_is_the_only_item_failure_and_retries_cleanly(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    from lambdas.common.clients import Clients

    keys = ["incoming/one.mp4", "incoming/two-throttled.mp4", "incoming/three.mp4"]
    for key in keys:
        _put(stack, key)
    bodies = []
    for key in keys:
        etag = stack.client("s3").head_object(Bucket=stack.input_bucket, Key=key)["ETag"]
        record = {
            "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": stack.input_bucket}, "object": {"key": key, "eTag": etag.strip('"')}},
        }
        bodies.append(json.dumps({"Records": [record]}))
    event = body_event(*bodies)
    runtime = ThrottlingRuntime(Clients().client("sagemaker-runtime"), throttle_when="throttled")
    set_clients(instrumented_clients(stack, **{"sagemaker-runtime": runtime}))

    response = lambda_handler(event, FakeContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    assert len(runtime.calls) == 3
    failures = [r for r in caplog.records if r.getMessage().startswith("dispatch failed")]
    assert [(r.key, r.message_id) for r in failures] == [(keys[1], event["Records"][1]["messageId"])]  # type: ignore[attr-defined]
    assert "ThrottlingException" in failures[0].error  # type: ignore[attr-defined]
    throttled_job = stack.job(_job_id(stack, keys[1]))
    assert throttled_job is not None and throttled_job["status"] == "QUEUED"
    assert "submitted_at" not in throttled_job

    # SQS redelivers the failed record; the throttle has passed. The failed attempt was not stored as done.
    runtime.throttle_when = ""
    retry = {"Records": [event["Records"][1]]}
    assert lambda_handler(retry, FakeContext()) == {"batchItemFailures": []}
    assert len(runtime.calls) == 4
    job = stack.job(_job_id(stack, keys[1]))
    assert job is not None and "submitted_at" in job and job["inference_id"] == job["job_id"]
    # And the two good ones are not started again when the whole batch comes back.
    assert lambda_handler(event, FakeContext()) == {"batchItemFailures": []}
    assert len(runtime.calls) == 4


@pytest.mark.parametrize(
    ("key", "metadata", "env", "why"),
    [
        ("incoming/big.mp4", {}, {envvars.ASYNC_MAX_BYTES: "16"}, "over the async limit"),
        ("batch/nightly/cam1.mp4", {}, {}, "under batch/"),
        ("incoming/asked.mp4", {"route": "processing"}, {}, "route=processing"),
        ("incoming/mx.mp4", {"model": "deeplab_resnet101_citys"}, {}, "MXNet"),
    ],
)
def test_processing_route(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, key: str, metadata: dict, env: dict, why: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reporting = processing_job(stack.results_bucket, api_url="http://api.internal:8080")
    monkeypatch.setenv(envvars.PROCESSING_JOB_DEFINITION, reporting.to_json())
    _put(stack, key, body=b"x" * 64, fps="0.5", **metadata)
    job_id = _job_id(stack, key)
    etag = stack.client("s3").head_object(Bucket=stack.input_bucket, Key=key)["ETag"].strip('"')
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": stack.input_bucket}, "object": {"key": key, "size": 64, "eTag": etag}},
    }

    assert lambda_handler(body_event(json.dumps({"Records": [record]})), FakeContext()) == {
        "batchItemFailures": []
    }

    assert "InvokeEndpointAsync" not in stack.calls or not stack.calls["InvokeEndpointAsync"]
    described = stack.client("sagemaker").describe_processing_job(ProcessingJobName=f"reelsight-{job_id}")
    assert described["RoleArn"] == "arn:aws:iam::123456789012:role/reelsight-processing"
    mxnet = "model" in metadata
    assert described["AppSpecification"]["ImageUri"].endswith(
        "reelsight-mxnet:test" if mxnet else "worker:test"
    )
    assert described["NetworkConfig"]["VpcConfig"] == {
        "Subnets": ["subnet-aaa", "subnet-bbb"],
        "SecurityGroupIds": ["sg-123"],
    }
    s3_input = described["ProcessingInputs"][0]["S3Input"]
    assert s3_input["S3DataType"] == "ManifestFile"
    assert s3_input["S3Uri"] == f"s3://{stack.results_bucket}/jobs/{job_id}/input-1.manifest"
    folder, name = key.rsplit("/", 1)
    manifest = stack.client("s3").get_object(
        Bucket=stack.results_bucket, Key=f"jobs/{job_id}/input-1.manifest"
    )
    assert json.loads(manifest["Body"].read()) == [{"prefix": f"s3://{stack.input_bucket}/{folder}/"}, name]
    plan = stack.client("s3").get_object(Bucket=stack.results_bucket, Key=f"jobs/{job_id}/plan.json")
    assert JobPlan.from_json(plan["Body"].read()).parts[0].video == f"s3://{stack.input_bucket}/{key}"
    output = described["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    assert output == f"s3://{stack.results_bucket}/jobs/{job_id}/output/"
    request = stack.calls["CreateProcessingJob"][0]
    assert request["Environment"][envvars.JOB_ID] == job_id
    assert request["Environment"][envvars.FPS] == "0.5"
    assert request["Environment"][envvars.API_URL] == "http://api.internal:8080"
    assert "route" not in json.dumps(request["Environment"]).lower()
    assert request["ProcessingResources"]["ClusterConfig"]["InstanceType"] == "ml.g5.2xlarge"
    assert described["AppSpecification"]["ContainerArguments"] == ["process"]
    assert request["StoppingCondition"]["MaxRuntimeInSeconds"] > 0
    job = stack.job(job_id)
    assert job is not None
    assert job["route"] == "processing" and why in job["route_reason"]
    assert job["processing_job_name"] == f"reelsight-{job_id}"
    assert job["output_location"] == output


@pytest.mark.parametrize(
    ("metadata", "named"),
    [
        ({"fps": "abc"}, "fps"),
        ({"model": "nosuchmodel"}, "nosuchmodel"),
        ({"route": "sideways"}, "route"),
        # Numeric extremes: each is refused with its range, before anything computes with it.
        ({"fps": "1e308"}, "fps must be a number from 0.00001 to 1000 samples per second, got '1e308'"),
        ({"every-seconds": "nan"}, "every_seconds must be a number from 0.001 to 100000 seconds"),
        ({"start": "-inf"}, "start must be a number from 0 to 10000000 seconds"),
        ({"max-frames": "9" * 30}, "max_frames must be an integer from 1 to 10000000 frames"),
        ({"batch-size": "1e3"}, "batch_size must be an integer from 1 to 1024 frames"),
    ],
)
def test_invalid_metadata_fails_the_job_and_notifies_without_retry(
    stack: Stack, metadata: dict, named: str
) -> None:
    key = "incoming/bad params.mp4"
    _put(stack, key, **metadata)
    etag = stack.client("s3").head_object(Bucket=stack.input_bucket, Key=key)["ETag"].strip('"')
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": stack.input_bucket},
            "object": {"key": "incoming/bad+params.mp4", "eTag": etag},
        },
    }

    assert lambda_handler(body_event(json.dumps({"Records": [record]})), FakeContext()) == {
        "batchItemFailures": []
    }

    assert not stack.calls.get("InvokeEndpointAsync")
    job = stack.job(_job_id(stack, key))
    assert job is not None and job["status"] == "FAILED"
    assert job["reason"].startswith("invalid parameters") and named in job["reason"]
    [note] = stack.notifications(expect=1)
    assert note["Subject"].startswith("reelsight FAILED: bad params.mp4")
    assert note["Message"]["status"] == "FAILED" and named in note["Message"]["reason"]
    assert note["Message"]["source"] == f"s3://{stack.input_bucket}/{key}"
    assert "/tmp" not in job["reason"] and "Traceback" not in job["reason"]


def test_missing_object_is_a_failed_job_not_a_retry(stack: Stack) -> None:
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": stack.input_bucket}, "object": {"key": "incoming/gone.mp4", "eTag": "abc"}},
    }
    assert lambda_handler(body_event(json.dumps({"Records": [record]})), FakeContext()) == {
        "batchItemFailures": []
    }
    job = stack.job(job_id_for(stack.input_bucket, "incoming/gone.mp4", "e:abc"))
    assert job is not None and job["status"] == "FAILED" and "no longer exists" in job["reason"]
    assert len(stack.notifications(expect=1)) == 1


def test_ignored_and_malformed_records_are_processed_without_side_effects(stack: Stack) -> None:
    _put(stack, "elsewhere/notes.txt")
    _put(stack, "elsewhere/clip.mp4")

    def body(key: str, event_name: str = "ObjectCreated:Put") -> str:
        record = {
            "eventName": event_name,
            "s3": {"bucket": {"name": stack.input_bucket}, "object": {"key": key}},
        }
        return json.dumps({"Records": [record]})

    event = body_event(
        body("elsewhere/notes.txt"),
        body("elsewhere/clip.mp4"),
        body("incoming/clip.mp4", "ObjectRemoved:Delete"),
        body("incoming/folder/"),
        "this is not json",
        json.dumps({"Records": "nope"}),
        json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": stack.input_bucket}),
    )
    assert lambda_handler(event, FakeContext()) == {"batchItemFailures": []}
    assert not stack.calls.get("InvokeEndpointAsync")
    assert stack.client("dynamodb").scan(TableName=stack.jobs_table)["Count"] == 0


def test_upper_case_video_suffixes_become_jobs_under_both_prefixes(stack: Stack) -> None:
    _notify_uploads(stack, WATCHED_PREFIXES)
    uploads = {
        "incoming/CLIP.MP4": "video/mp4",
        "incoming/cam/b.MOV": "video/quicktime",
        "incoming/c.Ts": "video/mp2t",
        f"{BATCH_PREFIX}night/D.MKV": None,  # batch/ always goes to a Processing job
    }
    for key in uploads:
        _put(stack, key)
    messages = _receive_uploads(stack, len(uploads))

    assert lambda_handler(sqs_event(messages), FakeContext()) == {"batchItemFailures": []}

    content_types = {c["InputLocation"]: c["ContentType"] for c in stack.calls["InvokeEndpointAsync"]}
    assert content_types == {
        f"s3://{stack.input_bucket}/{key}": kind for key, kind in uploads.items() if kind is not None
    }
    [processing] = stack.calls["CreateProcessingJob"]
    manifest = processing["ProcessingInputs"][0]["S3Input"]["S3Uri"].removeprefix(
        f"s3://{stack.results_bucket}/"
    )
    body = stack.client("s3").get_object(Bucket=stack.results_bucket, Key=manifest)["Body"].read()
    assert json.loads(body) == [{"prefix": f"s3://{stack.input_bucket}/batch/night/"}, "D.MKV"]
    for key in uploads:
        job = stack.job(_job_id(stack, key))
        assert job is not None and job["status"] == "QUEUED" and "submitted_at" in job, key


def test_an_upload_that_is_not_a_video_is_rejected_once_with_a_notification(stack: Stack) -> None:
    _notify_uploads(stack, WATCHED_PREFIXES)
    key = "incoming/notes.txt"
    _put(stack, key, body=b"meeting notes, not a video")
    messages = _receive_uploads(stack, 1)
    event = sqs_event(messages)

    assert lambda_handler(event, FakeContext()) == {"batchItemFailures": []}
    # At-least-once delivery: again alone, twice in one batch, and after the idempotency records expired
    # (the jobs table's conditional write is then the guard).
    assert lambda_handler(event, FakeContext()) == {"batchItemFailures": []}
    doubled = sqs_event(messages + [{**messages[-1], "MessageId": "another-id"}])
    assert lambda_handler(doubled, FakeContext()) == {"batchItemFailures": []}
    ddb = stack.client("dynamodb")
    for item in ddb.scan(TableName=stack.idempotency_table)["Items"]:
        ddb.delete_item(TableName=stack.idempotency_table, Key={"id": item["id"]})
    assert lambda_handler(event, FakeContext()) == {"batchItemFailures": []}

    assert not stack.calls.get("InvokeEndpointAsync") and not stack.calls.get("CreateProcessingJob")
    assert ddb.scan(TableName=stack.jobs_table)["Count"] == 1
    job = stack.job(_job_id(stack, key))
    assert job is not None and job["status"] == "REJECTED"
    assert (
        job["reason"].startswith("not a supported video")
        and ".mp4" in job["reason"]
        and ".ts" in job["reason"]
    )
    assert [entry["status"] for entry in job["status_history"]] == ["REJECTED"]
    assert job["finished_at"] == job["created_at"] and job["source"] == f"s3://{stack.input_bucket}/{key}"
    rejected = ddb.query(
        TableName=stack.jobs_table,
        IndexName=STATUS_INDEX,
        KeyConditionExpression="#s = :r",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":r": {"S": "REJECTED"}},
    )
    assert [item["job_id"]["S"] for item in rejected["Items"]] == [job["job_id"]]

    notes = stack.notifications(expect=2, wait=5)
    assert len(notes) == 1, notes
    [note] = notes
    assert note["Subject"].startswith("reelsight REJECTED: notes.txt")
    assert note["MessageAttributes"]["status"]["Value"] == "REJECTED"
    assert note["Message"]["status"] == "REJECTED" and note["Message"]["reason"] == job["reason"]
    assert note["Message"]["source"] == job["source"]


def test_the_worker_names_the_video_by_its_real_key(stack: Stack) -> None:
    """Keys holding ``%20``, ``+`` and spaces reach the worker's summary as the keys they are."""
    from reelsight.params import RunOptions
    from reelsight.worker import handler

    _notify_uploads(stack)
    stack.receive_all(stack.upload_queue_url, expect=1, wait=5)
    keys = ["incoming/c%20literal.mp4", "incoming/a+b c.mp4", "incoming/d %2B+e%25.mov"]
    for key in keys:
        _put(stack, key)
    messages = _receive_uploads(stack, len(keys))

    assert lambda_handler(sqs_event(messages), FakeContext()) == {"batchItemFailures": []}

    loaded = handler.LoadedModel(predictor=None, options=RunOptions(model="maskrcnn"), source="random")
    calls = {call["InputLocation"]: call for call in stack.calls["InvokeEndpointAsync"]}
    for key in keys:
        uri = f"s3://{stack.input_bucket}/{key}"
        attributes = calls[uri]["CustomAttributes"]
        assert attributes.isascii() and " " not in attributes  # what SageMaker accepts
        request = handler.request_options(loaded, attributes, calls[uri]["InferenceId"])
        assert request.video_uri == uri, attributes
