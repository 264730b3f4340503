"""Lambda entry point: an SQS batch of S3 notifications, with partial batch responses."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.common.clients import get_clients
from lambdas.common.settings import Settings
from lambdas.dispatch.dispatcher import Outcome, dispatch
from lambdas.dispatch.records import MalformedMessage, parse_body

SERVICE = "reelsight-dispatch"
logger = Logger(service=SERVICE)
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "reelsight"), service=SERVICE)
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
_METRIC_FOR_ACTION = {
    "submitted": "JobsSubmitted",
    "duplicate": "DuplicateEvents",
    "failed": "JobsRejected",
    "rejected": "UnsupportedUploads",
    "ignored": "IgnoredObjects",
}


def handle_record(record: SQSRecord, settings: Settings, config: IdempotencyConfig) -> list[Outcome]:
    try:
        events = parse_body(record.body)
    except MalformedMessage as exc:
        # Not an S3 notification: retrying cannot help, so it is logged, counted and dropped.
        logger.error("malformed message dropped", extra={"message_id": record.message_id, "error": str(exc)})
        metrics.add_metric(name="MalformedMessages", unit=MetricUnit.Count, value=1)
        return []
    if not events:
        logger.info("s3:TestEvent skipped", extra={"message_id": record.message_id})
        metrics.add_metric(name="TestEvents", unit=MetricUnit.Count, value=1)
        return []
    outcomes = []
    for event in events:
        try:
            outcome = dispatch(event, settings=settings, clients=get_clients(), idempotency_config=config)
        except Exception as exc:
            # The record becomes a batch item failure: SQS delivers it again, then to the DLQ. Say why.
            logger.error(
                "dispatch failed; the message will be delivered again",
                extra={
                    "message_id": record.message_id,
                    "bucket": event.bucket,
                    "key": event.key,
                    "error": repr(exc),
                },
            )
            metrics.add_metric(name="DispatchErrors", unit=MetricUnit.Count, value=1)
            raise
        finally:
            logger.remove_keys(["job_id"])
        logger.info(
            f"object {outcome.action}", extra={"bucket": event.bucket, "key": event.key, **outcome.to_dict()}
        )
        metrics.add_metric(name=_METRIC_FOR_ACTION[outcome.action], unit=MetricUnit.Count, value=1)
        if outcome.route and outcome.action == "submitted":
            metrics.add_metric(name=f"Route{outcome.route.capitalize()}", unit=MetricUnit.Count, value=1)
        outcomes.append(outcome)
    return outcomes


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = Settings.from_env()
    config = IdempotencyConfig(expires_after_seconds=settings.idempotency_ttl_seconds)
    config.register_lambda_context(context)
    response = process_partial_response(
        event=event,
        record_handler=lambda record: handle_record(record, settings, config),
        processor=processor,
        context=context,
    )
    return dict(response)
