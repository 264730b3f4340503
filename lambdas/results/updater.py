"""Apply one result event to its job record, then notify the user once the job is final."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from aws_lambda_powertools import Logger

from lambdas.common.clients import Clients
from lambdas.common.notify import publish
from lambdas.common.settings import Settings
from lambdas.results.messages import ASYNC, ResultEvent
from lambdas.results.plans import finish_plan_job, is_plan_job
from lambdas.results.summary import read_failure_text, read_summary
from reelsight.contract.jobs import (
    JobRecord,
    JobsTable,
    JobStatus,
    can_transition,
    iso,
    now_iso,
    parse_time,
    seconds_between,
)
from reelsight.contract.names import SUMMARY_FILE, artifacts_prefix, s3_uri, split_s3_uri
from reelsight.contract.progress import job_progress

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


def durations(job: JobRecord | None, event: ResultEvent) -> dict[str, float]:
    created = job.created_at if job else None
    result: dict[str, float | None] = {"total_seconds": seconds_between(created, event.finished_at)}
    if event.kind == ASYNC:
        result["endpoint_seconds"] = seconds_between(event.received_at, event.finished_at)
    else:
        result["queue_seconds"] = seconds_between(created, event.started_at)
        result["processing_seconds"] = seconds_between(event.started_at, event.finished_at)
    return {k: v for k, v in result.items() if v is not None}


def _event_time(value: Any) -> str | None:
    """An event's time (ISO or epoch) in the table's one format; None when unreadable."""
    moment = parse_time(value)
    return iso(moment) if moment else None


def apply_result(event: ResultEvent, *, settings: Settings, clients: Clients) -> Applied:
    store = JobsTable(clients.dynamodb, settings.jobs_table)
    current = store.get(event.job_id)
    skipped = _skipped(current, event)
    if skipped is not None:
        return skipped
    fields = _record_fields(current, event)
    if event.status.terminal:
        fields.update(_terminal_fields(current, event))
    if current is not None and is_plan_job(current) and event.status.terminal:
        outcome = finish_plan_job(
            current, event, settings=settings, clients=clients, at=_event_time(event.finished_at)
        )
        status, reason, summary = outcome.status, outcome.reason, outcome.summary
        fields.update(outcome.fields)
    else:
        status, reason, summary = _single_outcome(current, event, settings, clients, fields)
    result = store.transition(
        event.job_id,
        status,
        at=_event_time(event.finished_at) if status.terminal else None,
        reason=reason,
        fields=fields,
    )
    if not result.applied:  # another delivery got there first
        action = DUPLICATE if result.previous_status == status else STALE
        return Applied(action, event.job_id, result.previous_status)
    notified = False
    if status.terminal and result.job is not None:
        job = result.job.to_item()
        notified = publish(clients.sns, settings.results_topic_arn, job, summary=summary) is not None
    return Applied(UPDATED, event.job_id, status, notified)


def _single_outcome(
    current: JobRecord | None,
    event: ResultEvent,
    settings: Settings,
    clients: Clients,
    fields: dict[str, Any],
) -> tuple[JobStatus, str | None, dict[str, Any] | None]:
    """The status, reason and summary of a one-video job's event (``fields`` gain the summary)."""
    status = event.status
    reason = _failure_reason(event, clients) if status == JobStatus.FAILED else None
    stopped = _stopped_with_parts(current) if status == JobStatus.FAILED else None
    if stopped is not None and reason is not None:
        status, reason = JobStatus.PARTIAL, f"{stopped}: {reason}"
    summary: dict[str, Any] | None = None
    if status == JobStatus.SUCCEEDED:
        summary_fields, summary = _summary_fields(current, event, settings, clients)
        fields.update(summary_fields)
    return status, reason, summary


def _stopped_with_parts(current: JobRecord | None) -> str | None:
    """``stopped after N of M frames`` when the failed job left result parts (it ends PARTIAL), else None."""
    progress = job_progress(current.progress) if current is not None else None
    if progress is None or progress.parts <= 0:
        return None
    total = progress.frames_total if progress.frames_total is not None else "?"
    return f"stopped after {progress.frames_done} of {total} frames"


def _skipped(current: JobRecord | None, event: ResultEvent) -> Applied | None:
    """The answer when the stored job is already in, or past, the event's status; None to apply it."""
    if current is None:
        logger.warning("result for a job missing from the table; recording it", extra={"kind": event.kind})
        return None
    if event.kind != ASYNC and event.attempt != (current.attempt or 1):
        # An earlier attempt's late event (the job was resumed since), or one this record never started.
        logger.info(
            "event of another attempt ignored",
            extra={"event_attempt": event.attempt, "record_attempt": current.attempt or 1},
        )
        return Applied(STALE, event.job_id, current.status_text)
    if is_plan_job(current) and current.terminal:
        return Applied(DUPLICATE, event.job_id, current.status)
    if current.status == event.status:
        return Applied(DUPLICATE, event.job_id, current.status)
    if current.status is None or not can_transition(current.status, event.status):
        return Applied(STALE, event.job_id, current.status_text)
    return None


def _record_fields(current: JobRecord | None, event: ResultEvent) -> dict[str, Any]:
    """Where the job ran and where its output is, as far as the event tells."""
    fields: dict[str, Any] = {"route": (current.route if current else None) or event.kind}
    if event.processing_job_name:
        fields["processing_job_name"] = event.processing_job_name
    if current is None and event.input_location:
        fields.update(_source_fields(event.input_location))
    if event.output_location:
        fields["output_location"] = event.output_location
    if event.failure_location:
        fields["failure_location"] = event.failure_location
    if event.status == JobStatus.RUNNING:
        fields["started_at"] = _event_time(event.started_at) or now_iso()
    return fields


def _source_fields(location: str) -> dict[str, Any]:
    """A job that no upload recorded (an invocation made straight to the endpoint): its input, as
    SageMaker's notification names it, stands as the job's video."""
    try:
        bucket, key = split_s3_uri(location)
    except ValueError:
        return {"source": location}
    return {"source": location, "bucket": bucket, "key": key, "video": key.rsplit("/", 1)[-1] or None}


def _terminal_fields(current: JobRecord | None, event: ResultEvent) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "durations": durations(current, event) or None,
        "sagemaker_status": event.source_status,
    }
    if event.started_at is not None:
        fields["started_at"] = _event_time(event.started_at)
    return fields


def _summary_fields(
    current: JobRecord | None, event: ResultEvent, settings: Settings, clients: Clients
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The short summary of a succeeded job (fields to store, and the summary to notify with)."""
    location = event.output_location or (current.output_location if current else None)
    full = read_summary(
        clients.s3, location, settings.results_max_fetch_bytes, fallback=_artifact_summary(event, settings)
    )
    if full is None:
        return {"warnings": ["the job succeeded but its summary could not be read"]}, None
    summary = full.short().to_json()
    return {"summary": summary}, summary


def _artifact_summary(event: ResultEvent, settings: Settings) -> str | None:
    """``jobs/<id>/artifacts/summary.json``: what the async worker uploaded beside frames.jsonl."""
    if event.kind != ASYNC or not settings.results_bucket:
        return None
    return s3_uri(settings.results_bucket, artifacts_prefix(event.job_id) + SUMMARY_FILE)


def _failure_reason(event: ResultEvent, clients: Clients) -> str:
    if event.reason:
        return event.reason
    if event.failure_location:
        text = read_failure_text(clients.s3, event.failure_location)
        if text:
            return text
    return f"SageMaker reported {event.source_status}"
