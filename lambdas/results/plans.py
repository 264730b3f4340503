"""The end of a batch or split job: its plan, part markers and error records -> each batch video's
record, the job's record (SUCCEEDED, PARTIAL with the failed parts, or FAILED), and notifications.

A part counts as done only by its completion marker, never by the job's own status: a Completed
job whose markers are missing ends FAILED. Each batch video's record is updated before the job's,
so a retried message (the job record not yet final) completes what an earlier delivery began.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from lambdas.common.clients import Clients
from lambdas.common.notify import publish
from lambdas.common.parts import Unreadable, list_part_files, read_error_reasons, read_marker, read_plan
from lambdas.common.settings import Settings
from lambdas.results.messages import ResultEvent
from lambdas.results.summary import read_summary
from reelsight.contract.batch import JobPlan, Part, Rollup, part_prefix, rollup, split_result_prefix
from reelsight.contract.jobs import JobRecord, JobsTable, JobStatus
from reelsight.contract.names import SUMMARY_FILE, s3_uri
from reelsight.contract.summary import ShortSummary

logger = Logger(service="reelsight-results", child=True)


@dataclass(frozen=True)
class PlanOutcome:
    """The job's status and the fields of its final record, with the summary to notify."""

    status: JobStatus
    reason: str | None
    fields: dict[str, Any]
    summary: dict[str, Any] | None


def is_plan_job(job: JobRecord | None) -> bool:
    return job is not None and job.kind in ("batch", "split")


def finish_plan_job(
    job: JobRecord, event: ResultEvent, *, settings: Settings, clients: Clients, at: str | None
) -> PlanOutcome:
    """Roll the job's parts up and finish each batch video's record; the job's own is the caller's."""
    bucket = _results_bucket(settings)
    job_failure = event.reason if event.status == JobStatus.FAILED else None
    try:
        plan = read_plan(clients.s3, bucket, job.job_id)
    except Unreadable as error:
        reason = f"the job's plan is unreadable ({error})" + (f": {job_failure}" if job_failure else "")
        return PlanOutcome(JobStatus.FAILED, reason, {}, None)
    files = list_part_files(clients.s3, bucket, plan)
    unfinished = {part: key for part, key in files.errors.items() if part not in files.markers}
    result = rollup(plan, files.markers, read_error_reasons(clients.s3, bucket, unfinished), job_failure)
    if plan.kind == "batch":
        _finish_videos(plan, result, files.markers, event, settings=settings, clients=clients, at=at)
    fields: dict[str, Any] = {"failed_parts": list(result.failed) or None}
    summary = _job_summary(plan, result, settings, clients, fields)
    status = JobStatus(result.status)
    logger.info(
        "plan job rolled up", extra={"status": status, "done": len(result.done), "failed": len(result.failed)}
    )
    return PlanOutcome(status, result.reason, fields, summary)


def _results_bucket(settings: Settings) -> str:
    if settings.results_bucket:
        return settings.results_bucket
    if settings.processing is not None:
        return settings.processing.results_bucket
    raise ValueError("the results bucket is not configured")


def _job_summary(
    plan: JobPlan, result: Rollup, settings: Settings, clients: Clients, fields: dict[str, Any]
) -> dict[str, Any] | None:
    """A split's merged summary (stored on the record); a batch's counts of parts."""
    if plan.kind == "batch":
        return {"parts": len(plan.parts), "done": len(result.done), "failed": len(result.failed)}
    if result.status != "SUCCEEDED":
        return None
    location = s3_uri(_results_bucket(settings), split_result_prefix(plan) + SUMMARY_FILE)
    merged = read_summary(clients.s3, location, settings.results_max_fetch_bytes)
    if merged is None:
        fields["warnings"] = [f"every range finished but the merged summary {location} could not be read"]
        return None
    short = merged.short().to_json()
    fields["summary"] = short
    fields["output_location"] = location.rsplit("/", 1)[0] + "/"
    return short


def _finish_videos(
    plan: JobPlan,
    result: Rollup,
    markers: dict[str, str],
    event: ResultEvent,
    *,
    settings: Settings,
    clients: Clients,
    at: str | None,
) -> None:
    store = JobsTable(clients.dynamodb, settings.jobs_table)
    for part in plan.parts:
        if not part.job_id:
            continue
        fields: dict[str, Any]
        summary: dict[str, Any] | None
        if part.part_id in result.failed:
            status, reason, fields, summary = JobStatus.FAILED, result.failed[part.part_id], {}, None
        else:
            status, reason = JobStatus.SUCCEEDED, None
            summary = _video_summary(plan, part, markers[part.part_id], settings, clients)
            fields = {"summary": summary}
        fields.update(
            {
                "sagemaker_status": event.source_status,
                "output_location": s3_uri(_results_bucket(settings), part_prefix(plan.job_id, part.part_id)),
            }
        )
        changed = store.transition(part.job_id, status, at=at, reason=reason, fields=fields, must_exist=True)
        if changed.applied and changed.job is not None:
            publish(clients.sns, settings.results_topic_arn, changed.job.to_item(), summary=summary)


def _video_summary(
    plan: JobPlan, part: Part, marker_key: str, settings: Settings, clients: Clients
) -> dict[str, Any]:
    """The video's short summary (its ``summary.json``), else what its marker counts (frames mode)."""
    bucket = _results_bucket(settings)
    location = s3_uri(bucket, part_prefix(plan.job_id, part.part_id) + SUMMARY_FILE)
    full = read_summary(clients.s3, location, settings.results_max_fetch_bytes)
    if full is not None:
        return full.short().to_json()
    marker = read_marker(clients.s3, bucket, marker_key)
    frames = marker.frames if marker is not None else 0
    partial = marker is not None and marker.status == "partial"
    return ShortSummary(
        status="partial" if partial else "ok", frames_sampled=frames, partial=partial
    ).to_json()
