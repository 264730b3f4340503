"""The local async endpoint, driven through boto3's real sagemaker-runtime client."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from reelsight.local.async_endpoint import AsyncRequest, EndpointConfig, LocalAsyncEndpoint
from reelsight.testing.moto_server import MotoServer, free_port
from tests.local.fake_worker import FakeWorker

ENDPOINT = "reelsight-test-endpoint"


class Rig:
    """A bucket, success/error topics subscribed by SQS queues, and helpers to read outcomes."""

    def __init__(self) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.bucket = f"results-{suffix}"
        self.s3 = boto3.client("s3")
        self.sqs = boto3.client("sqs")
        sns = boto3.client("sns")
        self.s3.create_bucket(Bucket=self.bucket)
        self.topics: dict[str, str] = {}
        self.queues: dict[str, str] = {}
        for kind in ("success", "error"):
            arn = sns.create_topic(Name=f"{kind}-{suffix}")["TopicArn"]
            url = self.sqs.create_queue(QueueName=f"{kind}-{suffix}")["QueueUrl"]
            qarn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            sns.subscribe(
                TopicArn=arn, Protocol="sqs", Endpoint=qarn, Attributes={"RawMessageDelivery": "true"}
            )
            self.topics[kind], self.queues[kind] = arn, url

    def config(self, worker_url: str, **changes: Any) -> EndpointConfig:
        return EndpointConfig(
            name=ENDPOINT,
            output_path=f"s3://{self.bucket}/jobs/output",
            failure_path=f"s3://{self.bucket}/jobs/failure",
            worker_url=worker_url,
            success_topic=self.topics["success"],
            error_topic=self.topics["error"],
            ping_interval=0.1,
            **changes,
        )

    def put_input(self, data: bytes = b"video-bytes") -> str:
        key = f"incoming/{uuid.uuid4().hex}.mp4"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)
        return f"s3://{self.bucket}/{key}"

    def notifications(self, kind: str, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(found) < count and time.monotonic() < deadline:
            answer = self.sqs.receive_message(
                QueueUrl=self.queues[kind], MaxNumberOfMessages=10, WaitTimeSeconds=1
            )
            for msg in answer.get("Messages", []):
                found.append(json.loads(msg["Body"]))
                self.sqs.delete_message(QueueUrl=self.queues[kind], ReceiptHandle=msg["ReceiptHandle"])
        return found

    def read(self, uri: str) -> bytes:
        bucket, key = uri.removeprefix("s3://").split("/", 1)
        return bytes(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())


@pytest.fixture()
def rig(aws_env: MotoServer) -> Rig:
    return Rig()


@pytest.fixture()
def worker() -> Iterator[FakeWorker]:
    with FakeWorker() as fake:
        yield fake


def runtime(endpoint: LocalAsyncEndpoint, *, validate: bool = True) -> Any:
    from botocore.config import Config

    config = Config(parameter_validation=validate, retries={"max_attempts": 1})
    return boto3.client("sagemaker-runtime", endpoint_url=endpoint.url, config=config)


def test_invoke_async_rest_shape_and_success(rig: Rig, worker: FakeWorker) -> None:
    with LocalAsyncEndpoint(rig.config(worker.url)) as endpoint:
        source = rig.put_input(b"x" * 1000)
        answer = runtime(endpoint).invoke_endpoint_async(
            EndpointName=ENDPOINT,
            InputLocation=source,
            ContentType="video/mp4",
            CustomAttributes="fps=2,model=fasterrcnn",
            InferenceId="job-0001",
            RequestTTLSeconds=600,
            InvocationTimeoutSeconds=60,
        )
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 202
        assert answer["InferenceId"] == "job-0001"
        assert answer["OutputLocation"].startswith(f"s3://{rig.bucket}/jobs/output/")
        assert answer["OutputLocation"].endswith(".out")
        assert answer["FailureLocation"].startswith(f"s3://{rig.bucket}/jobs/failure/")
        assert answer["FailureLocation"].endswith("-error.out")

        [note] = rig.notifications("success", 1)
        assert note["invocationStatus"] == "Completed"
        assert note["inferenceId"] == "job-0001"
        assert note["eventSource"] == "aws:sagemaker"
        assert note["requestParameters"]["inputLocation"] == source
        assert note["requestParameters"]["endpointName"] == ENDPOINT
        assert note["responseParameters"]["outputLocation"] == answer["OutputLocation"]
        body = json.loads(rig.read(answer["OutputLocation"]))
        # A direct invocation: the worker is also told the input, the notification keeps the caller's.
        assert body == {
            "received_bytes": 1000,
            "inference_id": "job-0001",
            "custom_attributes": f"fps=2,model=fasterrcnn,video_uri={source}",
        }
        assert note["requestParameters"]["customAttributes"] == "fps=2,model=fasterrcnn"
        assert worker.calls[0]["headers"]["Content-Type"] == "video/mp4"
        assert rig.notifications("error", 1, timeout=1) == []
        assert endpoint.stats()["invocations_by_input"] == {source: 1}


def test_generated_inference_id_and_inline_body(rig: Rig, worker: FakeWorker) -> None:
    with LocalAsyncEndpoint(rig.config(worker.url)) as endpoint:
        answer = runtime(endpoint).invoke_endpoint_async(
            EndpointName=ENDPOINT, Body=b"inline", ContentType="x/y"
        )
        uuid.UUID(answer["InferenceId"])  # SageMaker generates one when none is given
        [note] = rig.notifications("success", 1)
        assert note["inferenceId"] == answer["InferenceId"]
        assert json.loads(rig.read(answer["OutputLocation"]))["received_bytes"] == len(b"inline")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"EndpointName": "nope", "InputLocation": "s3://b/k"}, "not found"),
        (
            {"EndpointName": ENDPOINT, "InputLocation": "s3://b/k", "RequestTTLSeconds": 5},
            "RequestTTLSeconds",
        ),
        (
            {"EndpointName": ENDPOINT, "InputLocation": "s3://b/k", "InvocationTimeoutSeconds": 4000},
            "Invocation",
        ),
        ({"EndpointName": ENDPOINT, "InputLocation": "s3://b/k", "InferenceId": "x" * 65}, "InferenceId"),
        ({"EndpointName": ENDPOINT, "InputLocation": "https://example.com/v.mp4"}, "S3 URI"),
    ],
)
def test_validation_errors(rig: Rig, worker: FakeWorker, kwargs: dict[str, Any], fragment: str) -> None:
    with LocalAsyncEndpoint(rig.config(worker.url)) as endpoint:
        with pytest.raises(ClientError) as info:
            # botocore checks some ranges itself; the server must reject them too
            runtime(endpoint, validate=False).invoke_endpoint_async(**kwargs)
        error = info.value.response["Error"]
        assert error["Code"] == "ValidationError"
        assert fragment in error["Message"]
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert endpoint.stats()["received"] == 0


def test_model_error_goes_to_failure_path_and_error_topic(rig: Rig) -> None:
    with FakeWorker(status=422) as bad, LocalAsyncEndpoint(rig.config(bad.url)) as endpoint:
        answer = runtime(endpoint).invoke_endpoint_async(
            EndpointName=ENDPOINT, InputLocation=rig.put_input(), InferenceId="bad-1"
        )
        [note] = rig.notifications("error", 1)
        assert note["invocationStatus"] == "Failed"
        assert note["inferenceId"] == "bad-1"
        assert "(422)" in note["failureReason"]
        assert json.loads(rig.read(answer["FailureLocation"]))["inference_id"] == "bad-1"
        with pytest.raises(ClientError):
            rig.read(answer["OutputLocation"])


def test_missing_input_fails_with_reason(rig: Rig, worker: FakeWorker) -> None:
    with LocalAsyncEndpoint(rig.config(worker.url)) as endpoint:
        runtime(endpoint).invoke_endpoint_async(
            EndpointName=ENDPOINT, InputLocation=f"s3://{rig.bucket}/incoming/missing.mp4", InferenceId="gone"
        )
        [note] = rig.notifications("error", 1)
        assert "could not download" in note["failureReason"]
        assert worker.calls == []


def test_concurrency_limit_is_honoured(rig: Rig) -> None:
    with (
        FakeWorker(delay=0.4) as slow,
        LocalAsyncEndpoint(rig.config(slow.url, max_concurrency=2)) as endpoint,
    ):
        client = runtime(endpoint)
        for i in range(6):
            client.invoke_endpoint_async(
                EndpointName=ENDPOINT, InputLocation=rig.put_input(), InferenceId=f"c{i}"
            )
        notes = rig.notifications("success", 6)
        assert sorted(n["inferenceId"] for n in notes) == [f"c{i}" for i in range(6)]
        assert slow.max_active == 2


def test_waits_for_a_restarting_worker_then_invokes_once(rig: Rig) -> None:
    port = free_port()
    with LocalAsyncEndpoint(rig.config(f"http://127.0.0.1:{port}")) as endpoint:
        source = rig.put_input()
        runtime(endpoint).invoke_endpoint_async(
            EndpointName=ENDPOINT, InputLocation=source, InferenceId="late"
        )
        time.sleep(1.0)
        assert endpoint.stats()["worker_waits"] == 1
        assert endpoint.stats()["invocations"] == 0
        with FakeWorker(port=port) as late:
            [note] = rig.notifications("success", 1)
            assert note["inferenceId"] == "late"
            assert len(late.calls) == 1
        assert endpoint.stats()["invocations_by_input"] == {source: 1}


def test_worker_lost_mid_request_fails_without_retry(rig: Rig) -> None:
    with FakeWorker(drop=True) as dying, LocalAsyncEndpoint(rig.config(dying.url)) as endpoint:
        runtime(endpoint).invoke_endpoint_async(
            EndpointName=ENDPOINT, InputLocation=rig.put_input(), InferenceId="d"
        )
        [note] = rig.notifications("error", 1)
        assert "stopped during the invocation" in note["failureReason"]
        assert len(dying.calls) == 1
        assert endpoint.stats()["invocations"] == 1


def test_expired_request_is_reported_not_run(rig: Rig, worker: FakeWorker) -> None:
    with LocalAsyncEndpoint(rig.config(worker.url)) as endpoint:
        old = AsyncRequest(
            inference_id="old",
            input_location=rig.put_input(),
            body=None,
            content_type="video/mp4",
            accept=None,
            custom_attributes=None,
            ttl=60,
            timeout=60,
            output_location=f"s3://{rig.bucket}/jobs/output/old.out",
            failure_location=f"s3://{rig.bucket}/jobs/failure/old-error.out",
            enqueued_at=time.time() - 61,
        )
        endpoint.enqueue(old)
        [note] = rig.notifications("error", 1)
        assert note["inferenceId"] == "old"
        assert "expired" in note["failureReason"]
        assert endpoint.stats()["expired"] == 1
        assert worker.calls == []


def test_ping_and_stats_routes(rig: Rig, worker: FakeWorker) -> None:
    import urllib.request

    with LocalAsyncEndpoint(rig.config(worker.url)) as endpoint:
        with urllib.request.urlopen(f"{endpoint.url}/ping") as resp:
            assert json.load(resp)["endpoint"] == ENDPOINT
        with urllib.request.urlopen(f"{endpoint.url}/local/stats") as resp:
            stats = json.load(resp)
        assert stats["backlog"] == 0 and stats["invocations"] == 0
    assert not threading.current_thread().daemon
