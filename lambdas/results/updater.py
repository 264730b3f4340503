"""Apply one result event to its job record, then notify the user once the job is final."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from aws_lambda_powertools import Logger

from lambdas.common import jobs
from lambdas.common.clients import Clients
from lambdas.common.notify import publish
from lambdas.common.settings import Settings
from lambdas.results.messages import ASYNC, ResultEvent
from lambdas.results.summary import read_failure_text, read_summary, short_summary

logger = Logger(service="reelsight-results", child=True)

UPDATED = "updated"
DUPLICATE = "duplicate"  # the job is already in this state
STALE = "stale"  # the job is already further along (e.g. an error after success)


@dataclass(frozen=True)
class Applied:
    action: str
    job_id: str
    status: str | None
    notified: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def durations(job: dict[str, Any] | None, event: ResultEvent) -> dict[str, float]:
    created = (job or {}).get("created_at")
    result: dict[str, float | None] = {"total_seconds": jobs.seconds_between(created, event.finished_at)}
    if event.kind == ASYNC:
        result["endpoint_seconds"] = jobs.seconds_between(event.received_at, event.finished_at)
    else:
        result["queue_seconds"] = jobs.seconds_between(created, event.started_at)
        result["processing_seconds"] = jobs.seconds_between(event.started_at, event.finished_at)
    return {k: v for k, v in result.items() if v is not None}


def _event_time(value: Any) -> str | None:
    moment = jobs.parse_time(value)
    return jobs.iso(moment) if moment else None


def apply_result(event: ResultEvent, *, settings: Settings, clients: Clients) -> Applied:
    store = jobs.JobStore(clients.dynamodb, settings.jobs_table)
    current = store.get(event.job_id)
    status = current.get("status") if current else None
    if current is None:
        logger.warning("result for a job missing from the table; recording it", extra={"kind": event.kind})
    elif status == event.status:
        return Applied(DUPLICATE, event.job_id, status)
    elif status not in jobs.ALLOWED_FROM[event.status]:
        return Applied(STALE, event.job_id, status)

    fields: dict[str, Any] = {"route": (current or {}).get("route") or event.kind}
    if event.processing_job_name:
        fields["processing_job_name"] = event.processing_job_name
    if current is None and event.input_location:
        fields["source"] = event.input_location
    if event.output_location:
        fields["output_location"] = event.output_location
    if event.failure_location:
        fields["failure_location"] = event.failure_location
    if event.status == jobs.RUNNING:
        fields["started_at"] = _event_time(event.started_at) or jobs.now_iso()
    summary: dict[str, Any] | None = None
    reason = event.reason
    if event.status in jobs.TERMINAL:
        fields["durations"] = durations(current, event) or None
        fields["sagemaker_status"] = event.source_status
        if event.started_at is not None:
            fields["started_at"] = _event_time(event.started_at)
    if event.status == jobs.SUCCEEDED:
        location = event.output_location or (current or {}).get("output_location")
        full = read_summary(clients.s3, location, settings.results_max_fetch_bytes) if location else None
        if full is None:
            fields["warnings"] = ["the job succeeded but its summary could not be read"]
        else:
            summary = short_summary(full)
            fields["summary"] = summary
    if event.status == jobs.FAILED and not reason and event.failure_location:
        reason = read_failure_text(clients.s3, event.failure_location)
    if event.status == jobs.FAILED and not reason:
        reason = f"SageMaker reported {event.source_status}"

    result = store.transition(
        event.job_id,
        event.status,
        at=_event_time(event.finished_at) if event.status in jobs.TERMINAL else None,
        reason=reason if event.status == jobs.FAILED else None,
        fields=fields,
    )
    if not result.applied:  # another delivery got there first
        action = DUPLICATE if result.previous_status == event.status else STALE
        return Applied(action, event.job_id, result.previous_status)
    notified = False
    if event.status in jobs.TERMINAL and result.job is not None:
        notified = publish(clients.sns, settings.results_topic_arn, result.job, summary=summary) is not None
    return Applied(UPDATED, event.job_id, event.status, notified)
