"""Run a Lambda function's SQS event sources locally, the way the Lambda service does.

The runner polls the function's queues, hands batches to the handler in this process
with the event shape AWS uses and a Lambda-like context object, and deletes only the
messages the handler processed (``batchItemFailures`` for partial failures). Messages
that fail become visible again after the queue's visibility timeout and, once past the
redrive policy's ``maxReceiveCount``, move to the dead-letter queue.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reelsight.local.faults import DuplicateDeliveries
from reelsight.local.lambda_context import LocalLambdaContext
from reelsight.local.service import configure_logging, stop_event
from reelsight.local.template import REGION, EventSourcePlan, FunctionPlan

log = logging.getLogger("reelsight.local.lambda")

Handler = Callable[[dict[str, Any], Any], Any]


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """One record of an SQS event, from a ReceiveMessage result."""
    attributes = dict(message.get("Attributes") or {})
    message_attributes = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        message_attributes[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value.get("DataType"),
        }
    body = message.get("Body", "")
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": body,
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode()).hexdigest(),  # noqa: S324
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


class SqsEventSource:
    """Polls one queue for one function."""

    def __init__(
        self,
        plan: EventSourcePlan,
        handler: Handler,
        *,
        function_timeout: int,
        sqs: Any | None = None,
        faults: DuplicateDeliveries | None = None,
    ) -> None:
        import boto3

        self.plan = plan
        self.faults = faults  # the soak's duplicate deliveries (off by default)
        self.handler = handler
        self.function_timeout = function_timeout
        self.sqs = sqs or boto3.client("sqs")
        self.invocations = 0
        self.errors = 0

    def receive_batch(self, wait_seconds: int = 1) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + self.plan.batching_window
        while len(messages) < self.plan.batch_size:
            answer = self.sqs.receive_message(
                QueueUrl=self.plan.queue_url,
                MaxNumberOfMessages=min(10, self.plan.batch_size - len(messages)),
                WaitTimeSeconds=wait_seconds if not messages else 0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            got = answer.get("Messages") or []
            messages.extend(got)
            if not got and (not messages or time.monotonic() >= deadline):
                break
            if not got:
                time.sleep(0.1)
        return messages

    def invoke(self, messages: list[dict[str, Any]]) -> set[str]:
        """Call the handler with one batch; returns the message ids that failed."""
        event = {"Records": [sqs_record(m, self.plan.queue_arn) for m in messages]}
        context = LocalLambdaContext(self.plan.function, self.function_timeout)
        self.invocations += 1
        ids = {m["MessageId"] for m in messages}
        try:
            result = self.handler(event, context)
        except Exception:
            self.errors += 1
            log.exception(
                "%s raised on a batch of %d; all will be retried", self.plan.function, len(messages)
            )
            return ids
        if not self.plan.report_batch_item_failures or not isinstance(result, dict):
            return set()
        failures = result.get("batchItemFailures") or []
        failed = {str(f.get("itemIdentifier")) for f in failures if isinstance(f, dict)}
        unknown = failed - ids
        if unknown:  # Lambda treats an identifier it did not send as a failure of the whole batch
            log.error("%s reported unknown item identifiers %s", self.plan.function, sorted(unknown))
            return ids
        if failed:
            log.warning("%s: %d of %d messages failed", self.plan.function, len(failed), len(messages))
        return failed

    def delete(self, messages: list[dict[str, Any]], failed: set[str]) -> None:
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            self.sqs.delete_message_batch(
                QueueUrl=self.plan.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )

    def poll_once(self, wait_seconds: int = 1) -> int:
        messages = self.receive_batch(wait_seconds)
        if not messages:
            return 0
        if self.faults is not None:
            self.faults.apply(self.sqs, self.plan.queue_url, messages)
        failed = self.invoke(messages)
        self.delete(messages, failed)
        return len(messages)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception:
                log.exception("polling %s failed", self.plan.queue_url)
                stop.wait(1.0)


def load_handler(dotted: str) -> Handler:
    module_name, _, attr = dotted.rpartition(".")
    module = importlib.import_module(module_name)
    handler: Handler = getattr(module, attr)
    return handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one Lambda function's SQS event sources locally.")
    parser.add_argument("--plan", required=True, help="plan.json written by `reelsight local up`")
    parser.add_argument("--function", required=True, help="function name in the plan")
    args = parser.parse_args(argv)
    configure_logging()
    plan = json.loads(Path(args.plan).read_text())
    function = next((FunctionPlan(**f) for f in plan["functions"] if f["name"] == args.function), None)
    if function is None:
        raise SystemExit(f"no function {args.function!r} in {args.plan}")
    for name, value in function.environment.items():  # the supervisor may have made some local
        os.environ.setdefault(name, value)
    handler = load_handler(function.handler)
    faults = DuplicateDeliveries.from_env()
    sources = [
        SqsEventSource(EventSourcePlan(**e), handler, function_timeout=function.timeout, faults=faults)
        for e in plan["event_sources"]
        if e["function"] == function.name
    ]
    stop = stop_event()
    threads = [threading.Thread(target=s.run, args=(stop,), daemon=True) for s in sources]
    for thread in threads:
        thread.start()
    log.info("%s (%s) polling %s", function.name, function.handler, [s.plan.queue_url for s in sources])
    while not stop.is_set():
        stop.wait(1.0)
    for thread in threads:
        thread.join(timeout=5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
