"""Helpers and fixtures for the Lambda tests: a small deployment on the moto server per test.

Names carry a random suffix instead of resetting the shared server, so other areas' state survives.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import boto3
import pytest

from lambdas.common.clients import Clients, set_clients
from reelsight import envvars
from reelsight.contract.jobs import JobsTable
from reelsight.contract.names import STATUS_INDEX
from reelsight.contract.processing import ProcessingJobDefinition
from reelsight.local.lambda_context import LocalLambdaContext
from reelsight.testing.moto_server import MotoServer

ROLE_ARN = "arn:aws:iam::123456789012:role/reelsight-processing"
IMAGE_URI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/reelsight-worker:test"
MXNET_IMAGE_URI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/reelsight-mxnet:test"


def processing_job(results_bucket: str, **changes: Any) -> ProcessingJobDefinition:
    """The test deployment's Processing job definition, as the CDK app hands it to the dispatcher."""
    definition = ProcessingJobDefinition(
        role_arn=ROLE_ARN,
        image_uri=IMAGE_URI,
        mxnet_image_uri=MXNET_IMAGE_URI,
        instance_type="ml.g5.2xlarge",
        results_bucket=results_bucket,
        subnet_ids=("subnet-aaa", "subnet-bbb"),
        security_group_ids=("sg-123",),
    )
    return replace(definition, **changes)


class FakeContext(LocalLambdaContext):
    """The in-process Lambda context, named for the tests."""


@dataclass
class Stack:
    """Handles on one test's resources."""

    server: MotoServer
    suffix: str
    input_bucket: str
    results_bucket: str
    jobs_table: str
    idempotency_table: str
    results_topic_arn: str
    results_queue_url: str
    upload_queue_url: str
    env: dict[str, str]
    calls: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.server.url, region_name="us-east-1")

    def receive_all(
        self, queue_url: str, *, expect: int | None = None, wait: float = 10.0
    ) -> list[dict[str, Any]]:
        """Receive (and delete) messages until ``expect`` arrived or the queue stays empty; bounded wait."""
        import time

        sqs = self.client("sqs")
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            batch = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"]
            ).get("Messages", [])
            for message in batch:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            messages += batch
            if expect is not None and len(messages) >= expect:
                break
            if expect is None and not batch:
                break
        return messages

    def notifications(self, *, expect: int | None = None, wait: float = 10.0) -> list[dict[str, Any]]:
        """User notifications on the results topic, as SNS envelopes (Subject, Message parsed)."""
        envelopes = [
            json.loads(m["Body"]) for m in self.receive_all(self.results_queue_url, expect=expect, wait=wait)
        ]
        for envelope in envelopes:
            envelope["Message"] = json.loads(envelope["Message"])
        return envelopes

    def job(self, job_id: str) -> dict[str, Any] | None:
        """The job as a plain item, read through the jobs table's contract."""
        record = JobsTable(self.client("dynamodb"), self.jobs_table).get(job_id)
        return record.to_item() if record else None


def sqs_event(
    messages: list[dict[str, Any]], queue_arn: str = "arn:aws:sqs:us-east-1:123456789012:q"
) -> dict:
    """A Lambda SQS event from messages returned by ReceiveMessage."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def body_event(*bodies: str) -> dict:
    """A Lambda SQS event made of the given bodies (for hand-written messages)."""
    return sqs_event(
        [
            {"MessageId": str(uuid.uuid4()), "ReceiptHandle": "rh", "Body": body, "MD5OfBody": ""}
            for body in bodies
        ]
    )


def _create_table(ddb: Any, name: str, key: str, index: bool) -> None:
    kwargs: dict[str, Any] = {
        "TableName": name,
        "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": key, "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if index:
        kwargs["AttributeDefinitions"] += [
            {"AttributeName": "status", "AttributeType": "S"},
            {"AttributeName": "created_at", "AttributeType": "S"},
        ]
        kwargs["GlobalSecondaryIndexes"] = [
            {
                "IndexName": STATUS_INDEX,
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ]
    ddb.create_table(**kwargs)


@pytest.fixture()
def lambda_context() -> FakeContext:
    return FakeContext()


@pytest.fixture()
def stack(aws_env: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    suffix = uuid.uuid4().hex[:8]
    url = aws_env.url
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=url, region_name="us-east-1")
    sns = boto3.client("sns", endpoint_url=url, region_name="us-east-1")
    ddb = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1")

    input_bucket, results_bucket = f"rs-input-{suffix}", f"rs-results-{suffix}"
    s3.create_bucket(Bucket=input_bucket)
    s3.create_bucket(Bucket=results_bucket)
    jobs_table, idem_table = f"rs-jobs-{suffix}", f"rs-idem-{suffix}"
    _create_table(ddb, jobs_table, "job_id", index=True)
    _create_table(ddb, idem_table, "id", index=False)
    topic_arn = sns.create_topic(Name=f"rs-results-{suffix}")["TopicArn"]
    results_queue = sqs.create_queue(QueueName=f"rs-notify-{suffix}")["QueueUrl"]
    results_queue_arn = sqs.get_queue_attributes(QueueUrl=results_queue, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=results_queue_arn)
    upload_queue = sqs.create_queue(QueueName=f"rs-uploads-{suffix}")["QueueUrl"]

    env = {
        envvars.JOBS_TABLE: jobs_table,
        envvars.IDEMPOTENCY_TABLE: idem_table,
        envvars.INPUT_BUCKET: input_bucket,
        envvars.RESULTS_BUCKET: results_bucket,
        envvars.ENDPOINT_NAME: f"rs-endpoint-{suffix}",
        envvars.RESULTS_TOPIC_ARN: topic_arn,
        envvars.PROCESSING_JOB_DEFINITION: processing_job(results_bucket).to_json(),
        "POWERTOOLS_METRICS_NAMESPACE": "reelsight-test",
        "POWERTOOLS_SERVICE_NAME": "reelsight-test",
    }
    for name in (
        envvars.ASYNC_MAX_BYTES,
        envvars.UPLOAD_PREFIX,
        envvars.BATCH_PREFIX,
        envvars.VIDEO_SUFFIXES_OVERRIDE,
    ):
        monkeypatch.delenv(name, raising=False)
    for name in list(__import__("reelsight.params").params.ENV_KEYS):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    stack = Stack(
        server=aws_env,
        suffix=suffix,
        input_bucket=input_bucket,
        results_bucket=results_bucket,
        jobs_table=jobs_table,
        idempotency_table=idem_table,
        results_topic_arn=topic_arn,
        results_queue_url=results_queue,
        upload_queue_url=upload_queue,
        env=env,
    )
    set_clients(instrumented_clients(stack))
    yield stack
    set_clients(None)


def instrumented_clients(stack: Stack, **overrides: Any) -> Clients:
    """Clients that talk to moto and record each SageMaker request in ``stack.calls``."""
    clients = Clients(overrides=dict(overrides))
    for service, operation in (
        ("sagemaker-runtime", "InvokeEndpointAsync"),
        ("sagemaker", "CreateProcessingJob"),
    ):
        if service in overrides:
            continue
        client = clients.client(service)
        calls = stack.calls.setdefault(operation, [])
        client.meta.events.register(
            f"provide-client-params.{client.meta.service_model.service_id.hyphenize()}.{operation}",
            lambda params, calls=calls, **_: calls.append(dict(params)),
        )
    return clients
