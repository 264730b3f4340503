"""Lambda entry point: SQS batches from the results queue (SNS envelopes or EventBridge events).

Malformed messages are logged at error level, counted in the ``MalformedMessages`` metric and
reported as processed: retrying cannot repair them. Transient failures (DynamoDB, S3, SNS) raise,
so SQS retries the record and, after ``maxReceiveCount``, moves it to the dead-letter queue.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.common.clients import get_clients
from lambdas.common.settings import Settings
from lambdas.results.messages import Ignored, MalformedMessage, ResultEvent, parse_body
from lambdas.results.updater import Applied, apply_result

SERVICE = "reelsight-results"
logger = Logger(service=SERVICE)
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "reelsight"), service=SERVICE)
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
_METRIC_FOR_ACTION = {"updated": "JobsUpdated", "duplicate": "DuplicateResults", "stale": "StaleResults"}


def _malformed(error: Exception, message_id: str | None) -> dict[str, Any]:
    logger.error("malformed message dropped", extra={"message_id": message_id, "error": str(error)})
    metrics.add_metric(name="MalformedMessages", unit=MetricUnit.Count, value=1)
    return {"action": "malformed", "error": str(error)}


def handle_parsed(parsed: ResultEvent | Ignored, settings: Settings) -> dict[str, Any]:
    if isinstance(parsed, Ignored):
        logger.info("message ignored", extra={"reason": parsed.reason})
        metrics.add_metric(name="IgnoredResults", unit=MetricUnit.Count, value=1)
        return {"action": "ignored", "reason": parsed.reason}
    logger.append_keys(job_id=parsed.job_id)
    try:
        applied: Applied = apply_result(parsed, settings=settings, clients=get_clients())
        logger.info(
            f"result {applied.action}",
            extra={"kind": parsed.kind, "sagemaker_status": parsed.source_status, **applied.to_dict()},
        )
    finally:
        logger.remove_keys(["job_id"])
    metrics.add_metric(name=_METRIC_FOR_ACTION[applied.action], unit=MetricUnit.Count, value=1)
    if applied.action == "updated" and applied.status in ("SUCCEEDED", "FAILED", "PARTIAL"):
        metrics.add_metric(name=f"Jobs{applied.status.capitalize()}", unit=MetricUnit.Count, value=1)
    return applied.to_dict()


def handle_record(record: SQSRecord, settings: Settings) -> dict[str, Any]:
    try:
        parsed = parse_body(record.body)
    except MalformedMessage as exc:
        return _malformed(exc, record.message_id)
    return handle_parsed(parsed, settings)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = Settings.from_env()
    records = event.get("Records") if isinstance(event, dict) else None
    if not _is_sqs_batch(records):
        # Only the SQS event source is deployed (SNS and EventBridge both deliver to the results queue).
        return _malformed(MalformedMessage("not an SQS batch: the results queue is the only trigger"), None)
    response = process_partial_response(
        event=event,
        record_handler=lambda record: handle_record(record, settings),
        processor=processor,
        context=context,
    )
    return dict(response)


def _is_sqs_batch(records: Any) -> bool:
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records)
    )
