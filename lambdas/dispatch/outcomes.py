"""What dispatching one object ends in, and the records of jobs that end before submission."""

from __future__ import annotations

import posixpath
from dataclasses import asdict, dataclass, replace
from typing import Any

from aws_lambda_powertools import Logger

from lambdas.common.clients import Clients
from lambdas.common.notify import publish
from lambdas.common.settings import Settings
from lambdas.dispatch.records import ObjectEvent
from reelsight.contract.jobs import JobRecord, JobsTable, JobStatus, history_entry, now_iso, time_text
from reelsight.contract.names import job_prefix, s3_uri

logger = Logger(service="reelsight-dispatch", child=True)

SUBMITTED = "submitted"
DUPLICATE = "duplicate"
FAILED = "failed"
REJECTED = "rejected"
IGNORED = "ignored"


@dataclass(frozen=True)
class Outcome:
    action: str  # submitted | duplicate | failed | rejected | ignored
    job_id: str | None = None
    route: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def base_record(event: ObjectEvent, job_id: str, settings: Settings, status: JobStatus) -> JobRecord:
    moment = now_iso()
    return JobRecord(
        job_id=job_id,
        status=status,
        source=s3_uri(event.bucket, event.key),
        bucket=event.bucket,
        key=event.key,
        video=posixpath.basename(event.key),
        created_at=moment,
        updated_at=moment,
        uploaded_at=time_text(event.event_time),
        etag=(event.etag or "").strip('"') or None,
        version_id=event.version_id,
        status_history=[history_entry(status, moment)],
        results_prefix=s3_uri(settings.results_bucket, job_prefix(job_id))
        if settings.results_bucket
        else None,
    )


def finish_unsubmitted(
    event: ObjectEvent,
    job_id: str,
    status: JobStatus,
    reason: str,
    settings: Settings,
    clients: Clients,
    details: dict[str, Any],
) -> bool:
    """Record a job that ends before submission and notify; False when it was already recorded."""
    base = base_record(event, job_id, settings, status)
    record = replace(
        base,
        **details,
        reason=reason,
        finished_at=base.created_at,
        status_history=[history_entry(status, str(base.created_at), reason)],
    )
    if not JobsTable(clients.dynamodb, settings.jobs_table).create(record):
        return False
    logger.warning(f"job {status.lower()} before submission", extra={"reason": reason})
    publish(clients.sns, settings.results_topic_arn, record.to_item())
    return True


def fail(
    event: ObjectEvent,
    job_id: str,
    reason: str,
    settings: Settings,
    clients: Clients,
    details: dict[str, Any],
) -> Outcome:
    if not finish_unsubmitted(event, job_id, JobStatus.FAILED, reason, settings, clients, details):
        return Outcome(DUPLICATE, job_id=job_id, reason="job already recorded")
    return Outcome(FAILED, job_id=job_id, reason=reason)


def reject(event: ObjectEvent, job_id: str, reason: str, settings: Settings, clients: Clients) -> Outcome:
    if not finish_unsubmitted(event, job_id, JobStatus.REJECTED, reason, settings, clients, {}):
        return Outcome(DUPLICATE, job_id=job_id, reason="job already recorded")
    return Outcome(REJECTED, job_id=job_id, reason=reason)
