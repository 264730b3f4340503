"""The SQS event-source runner: event shape, partial batch failures, redrive to the DLQ."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import boto3
import pytest

from reelsight.local.lambda_context import LocalLambdaContext as LambdaContext
from reelsight.local.lambda_runner import SqsEventSource
from reelsight.local.template import EventSourcePlan
from reelsight.testing.moto_server import MotoServer


def make_queue(max_receive: int = 2) -> tuple[EventSourcePlan, str]:
    sqs = boto3.client("sqs")
    suffix = uuid.uuid4().hex[:8]
    dlq = sqs.create_queue(QueueName=f"dlq-{suffix}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive})
    url = sqs.create_queue(
        QueueName=f"q-{suffix}", Attributes={"VisibilityTimeout": "1", "RedrivePolicy": redrive}
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    plan = EventSourcePlan(
        function="fn",
        queue_url=url,
        queue_arn=arn,
        batch_size=10,
        report_batch_item_failures=True,
        batching_window=0,
    )
    return plan, dlq


def count(url: str) -> int:
    attrs = boto3.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def test_partial_batch_failure_retries_then_dead_letters(aws_env: MotoServer) -> None:
    plan, dlq = make_queue(max_receive=2)
    sqs = boto3.client("sqs")
    for body in ("ok-1", "fail", "ok-2"):
        sqs.send_message(QueueUrl=plan.queue_url, MessageBody=body)
    seen: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        assert context.function_name == "fn" and context.get_remaining_time_in_millis() > 0
        seen.extend(event["Records"])
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "fail"
            ]
        }

    source = SqsEventSource(plan, handler, function_timeout=30)
    deadline = time.monotonic() + 3
    while len(seen) < 3 and time.monotonic() < deadline:
        source.poll_once(wait_seconds=1)
    record = seen[0]
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == plan.queue_arn
    assert record["awsRegion"] == "us-east-1"
    assert {"messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody"} <= set(
        record
    )
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert sorted(r["body"] for r in seen) == ["fail", "ok-1", "ok-2"]
    assert count(plan.queue_url) == 1  # only the failed message is left

    deadline = time.monotonic() + 15
    while count(dlq) == 0 and time.monotonic() < deadline:
        source.poll_once(wait_seconds=1)
    retries = [r for r in seen if r["body"] == "fail"]
    assert [r["attributes"]["ApproximateReceiveCount"] for r in retries] == ["1", "2"]
    assert count(dlq) == 1 and count(plan.queue_url) == 0


def test_handler_exception_keeps_the_whole_batch(aws_env: MotoServer) -> None:
    plan, _ = make_queue(max_receive=5)
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=plan.queue_url, MessageBody="a")
    sqs.send_message(QueueUrl=plan.queue_url, MessageBody="b")

    def boom(event: dict[str, Any], context: LambdaContext) -> None:
        raise RuntimeError("handler bug")

    source = SqsEventSource(plan, boom, function_timeout=30)
    handled = 0
    deadline = time.monotonic() + 3
    while handled < 2 and time.monotonic() < deadline:
        handled += source.poll_once(wait_seconds=1)
    assert source.errors >= 1
    assert count(plan.queue_url) == 2


@pytest.mark.parametrize("result", [None, {"batchItemFailures": []}])
def test_success_deletes_everything(aws_env: MotoServer, result: Any) -> None:
    plan, _ = make_queue()
    boto3.client("sqs").send_message(QueueUrl=plan.queue_url, MessageBody="x")
    source = SqsEventSource(plan, lambda e, c: result, function_timeout=30)
    deadline = time.monotonic() + 3
    while source.invocations == 0 and time.monotonic() < deadline:
        source.poll_once(wait_seconds=1)
    assert count(plan.queue_url) == 0


def test_unknown_item_identifier_fails_the_batch(aws_env: MotoServer) -> None:
    plan, _ = make_queue(max_receive=5)
    boto3.client("sqs").send_message(QueueUrl=plan.queue_url, MessageBody="x")
    source = SqsEventSource(
        plan, lambda e, c: {"batchItemFailures": [{"itemIdentifier": "nope"}]}, function_timeout=30
    )
    deadline = time.monotonic() + 3
    while source.invocations == 0 and time.monotonic() < deadline:
        source.poll_once(wait_seconds=1)
    assert count(plan.queue_url) == 1
