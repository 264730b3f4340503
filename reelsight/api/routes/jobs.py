"""``/v1/jobs``: job listing and detail, run summaries, frames, and progress reports from Processing jobs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import StreamingResponse

from reelsight.api import schemas
from reelsight.api.routes.batches import batch_parts
from reelsight.api.routes.deps import AUTHORIZED, BAD_REQUEST, ERRORS, NOT_FOUND, JobId, Store
from reelsight.api.store import JobStore, StoreError
from reelsight.api.views import detail, list_item, progress_view, result_parts, running_parts
from reelsight.contract.jobs import JobRecord, JobStatus, ProgressResult, parse_time
from reelsight.contract.names import SUMMARY_FILE
from reelsight.contract.summary import RunSummary

TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?$"
STATUS_PATTERN = r"^[A-Za-z][A-Za-z_-]{0,31}$"
NO_RESULT: dict[int | str, dict[str, Any]] = {
    404: {"model": schemas.ErrorBody, "description": "No such job, or no result yet."}
}
UNREADABLE: dict[int | str, dict[str, Any]] = {
    502: {"model": schemas.ErrorBody, "description": "The stored summary.json is not a run summary."}
}
NDJSON = "application/x-ndjson"
FRAMES_CONTENT: dict[str, Any] = {
    "description": "frames.jsonl as the run wrote it: one JSON object per sampled frame and line. "
    "While the job has no final frames.jsonl (it runs, or ended PARTIAL), the result parts written so far, "
    "concatenated in order (a prefix of the final file).",
    "content": {NDJSON: {"schema": {"type": "string"}}},
}
PROGRESS_REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"model": schemas.ErrorBody, "description": "The body is not JSON."},
    409: {
        "model": schemas.ErrorBody,
        "description": "Backward progress (a larger frames_done is stored), or the job has ended.",
    },
}

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=AUTHORIZED)


def TimeQuery(meaning: str) -> Any:  # noqa: N802 - reads like the Query() it returns
    return Query(
        pattern=TIMESTAMP_PATTERN,
        description=f"{meaning} this time: RFC 3339, e.g. 2026-11-01T12:00:00Z (UTC if no offset).",
        json_schema_extra={"format": "date-time"},
    )


@router.get("", response_model=schemas.JobList, responses={**ERRORS, **BAD_REQUEST})
def list_jobs(
    store: Store,
    limit: Annotated[int, Query(ge=1, le=100, description="Items per page.")] = 20,
    next: Annotated[str | None, Query(max_length=4096, description="Token from the previous page.")] = None,
    status: Annotated[
        str | None,
        Query(
            pattern=STATUS_PATTERN,
            description=f"Only jobs in this status ({', '.join(JobStatus)}; any case).",
        ),
    ] = None,
    since: Annotated[str | None, TimeQuery("Created at or after")] = None,
    until: Annotated[str | None, TimeQuery("Created at or before")] = None,
) -> dict[str, Any]:
    since_utc, until_utc = _timestamp("since", since), _timestamp("until", until)
    if since_utc and until_utc and since_utc > until_utc:
        raise StoreError(400, "since must not be later than until")
    wanted_status = _status(status)
    page = store.list_jobs(
        status=wanted_status, since=since_utc, until=until_utc, limit=limit, next_token=next
    )
    return {"items": [list_item(item) for item in page.items], "next": page.next}


@router.get("/{job_id}", response_model=schemas.JobDetail, responses={**ERRORS, **NOT_FOUND})
def get_job(job_id: JobId, store: Store) -> dict[str, Any]:
    record = _record(store, job_id)
    objects = store.list_job_objects(job_id)  # once, for the detail and the parts
    return {**detail(record, store, objects), "parts": batch_parts(store, record, objects)}


@router.get("/{job_id}/summary", response_model=RunSummary, responses={**ERRORS, **NO_RESULT, **UNREADABLE})
def get_summary(job_id: JobId, store: Store) -> dict[str, Any]:
    summary_key, _ = _result_keys(store, job_id)
    try:
        stored = json.loads(store.read_object_text(summary_key))
        return RunSummary.from_json(stored).to_json()
    except (ValueError, TypeError, AttributeError):
        raise StoreError(
            502, f"the results bucket holds an unreadable {SUMMARY_FILE} for job {job_id}"
        ) from None


@router.get(
    "/{job_id}/frames",
    response_class=StreamingResponse,
    responses={200: FRAMES_CONTENT, **ERRORS, **NO_RESULT},
)
def get_frames(job_id: JobId, store: Store) -> StreamingResponse:
    record = _record(store, job_id)
    objects = store.list_job_objects(job_id)
    final = result_parts(objects)
    if final is not None:
        return StreamingResponse(store.open_object(final[1]), media_type=NDJSON)
    parts = running_parts(objects, job_id)
    if not parts:
        raise StoreError(404, f"job {job_id} has no frames yet (status: {record.status_text})")
    first = store.open_object(parts[0])  # a 404 now, before the answer starts
    return StreamingResponse(_concatenated(store, first, parts[1:]), media_type=NDJSON)


def _concatenated(store: JobStore, first: Iterator[bytes], rest: list[str]) -> Iterator[bytes]:
    """The parts one after another; stops at a part that is gone (the answer stays a prefix)."""
    yield from first
    for key in rest:
        try:
            chunks = store.open_object(key)
        except StoreError:
            return
        yield from chunks


@router.post(
    "/{job_id}/progress",
    response_model=schemas.ProgressAnswer,
    responses={**ERRORS, **NOT_FOUND, **PROGRESS_REFUSALS},
)
def post_progress(
    job_id: JobId, report: Annotated[schemas.ProgressReport, Body()], store: Store
) -> dict[str, Any]:
    outcome = store.record_progress(
        job_id, report.video, report.frames_done, report.frames_total, entry=report.entry()
    )
    found = store.get_job(job_id)
    record = store.mark_running(found) if found else JobRecord(job_id=job_id, status=None)
    return {
        "job_id": job_id,
        "video": report.video,
        "applied": outcome.result is ProgressResult.APPLIED,
        "progress": outcome.entry,
        "job_progress": progress_view(record),
    }


def _status(value: str | None) -> JobStatus | None:
    if value is None:
        return None
    status = JobStatus.read(value)
    if status is None:
        raise StoreError(400, f"status must be one of {', '.join(JobStatus)} (any case), got {value!r}")
    return status


def _timestamp(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    moment = parse_time(value)
    if moment is None:
        raise StoreError(400, f"{name} is not a valid time: {value!r}")
    return moment


def _record(store: JobStore, job_id: str) -> JobRecord:
    record = store.get_job(job_id)
    if record is None:
        raise StoreError(404, f"no job with id {job_id}")
    return record


def _result_keys(store: JobStore, job_id: str) -> tuple[str, str]:
    """The keys of the job's summary.json and frames.jsonl; StoreError 404 while there are none."""
    record = _record(store, job_id)
    parts = result_parts(store.list_job_objects(job_id))
    if parts is None:
        raise StoreError(404, f"job {job_id} has no result yet (status: {record.status_text})")
    return parts
