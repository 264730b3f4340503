"""``/v1/batches`` and ``/v1/jobs/{job_id}/resume``: start and resume batch and split Processing jobs.

Both write a batch request document (``batch/<name>.batch.json``, the upload form of
``reelsight.contract.batch.BatchRequest``) to the input bucket, which the dispatcher turns into
the job; :func:`batch_parts` is what ``GET /v1/jobs/{job_id}`` shows of a batch's parts.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from reelsight.api import schemas
from reelsight.api.routes.deps import AUTHORIZED, BAD_REQUEST, ERRORS, NOT_FOUND, JobId, Store
from reelsight.api.store import JobStore, StoreError
from reelsight.api.views import progress_view
from reelsight.contract.batch import (
    BatchRequest,
    JobPlan,
    PartError,
    error_key,
    failed_part_ids,
    part_views,
    plan_key,
    request_key,
    request_name,
    resume_refusal,
)
from reelsight.contract.jobids import job_id_for, object_version
from reelsight.contract.jobs import JobRecord
from reelsight.contract.names import s3_uri

# Per GET, at most this many parts get their own job record and error record read (the rest show
# their state from the markers alone), so a 10,000-video batch stays one quick answer.
MAX_PART_READS = 100
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
NOT_RESUMABLE: dict[int | str, dict[str, Any]] = {
    409: {
        "model": schemas.ErrorBody,
        "description": "The job is not a batch or split job, or has not ended PARTIAL or FAILED.",
    }
}
REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": schemas.BatchRequestBody.model_json_schema()}},
    }
}

router = APIRouter(tags=["batches"], dependencies=AUTHORIZED)


@router.post(
    "/v1/batches",
    status_code=202,
    response_model=schemas.BatchAccepted,
    responses={**ERRORS, **BAD_REQUEST},
    openapi_extra=REQUEST_BODY,
)
async def post_batch(
    request: Request,
    store: Store,
    name: Annotated[
        str | None,
        Query(pattern=NAME_PATTERN, description="Request document name (default: batch-<time>-<random>)."),
    ] = None,
) -> dict[str, Any]:
    batch = BatchRequest.from_json(await request.body())  # ParamError: 400 with its message
    return await run_in_threadpool(write_request, store, batch, name or request_name("batch"))


@router.post(
    "/v1/jobs/{job_id}/resume",
    status_code=202,
    response_model=schemas.BatchAccepted,
    responses={**ERRORS, **NOT_FOUND, **NOT_RESUMABLE},
)
def post_resume(job_id: JobId, store: Store) -> dict[str, Any]:
    record = store.get_job(job_id)
    if record is None:
        raise StoreError(404, f"no job with id {job_id}")
    refusal = resume_refusal(job_id, record.status_text, read_plan(store, job_id))
    if refusal:
        raise StoreError(409, refusal)
    return write_request(store, BatchRequest(resume=job_id), request_name(f"resume-{job_id}"))


def write_request(store: JobStore, batch: BatchRequest, name: str) -> dict[str, Any]:
    """Write the request document; the job id is the dispatcher's for that object (or the resumed
    job's), None when the bucket has no versions."""
    key = request_key(name)
    answer = store.s3.put_object(
        Bucket=store.input_bucket, Key=key, Body=batch.to_json().encode(), ContentType="application/json"
    )
    version = answer.get("VersionId")
    job_id = batch.resume or (
        job_id_for(store.input_bucket, key, object_version(version, None))
        if version and version != "null"
        else None
    )
    return {"job_id": job_id, "request_key": key, "s3_uri": s3_uri(store.input_bucket, key)}


def read_plan(store: JobStore, job_id: str) -> JobPlan | None:
    """The job's plan.json; None when it has none (not a batch or split job, or not planned yet)."""
    try:
        return JobPlan.from_json(store.read_object_text(plan_key(job_id)))
    except StoreError:
        return None
    except (ValueError, TypeError):
        raise StoreError(502, f"the results bucket holds an unreadable {plan_key(job_id)}") from None


def batch_parts(
    store: JobStore, record: JobRecord, objects: list[dict[str, Any]]
) -> list[dict[str, Any]] | None:
    """The parts of a batch or split job as GET /v1/jobs/{job_id} shows them; None for other jobs.
    ``objects`` are the job's objects in the results bucket (``list_job_objects``)."""
    keys = [obj["key"] for obj in objects]
    if plan_key(record.job_id) not in keys:
        return None
    plan = read_plan(store, record.job_id)
    if plan is None:
        return None
    views = part_views(plan, keys, _reasons(store, plan, keys))
    shown: list[dict[str, Any]] = []
    for index, view in enumerate(views):
        own = store.get_job(view.job_id) if view.job_id and index < MAX_PART_READS else None
        shown.append(
            {
                "part_id": view.part_id,
                "video": view.video,
                "state": view.state,
                "job_id": view.job_id,
                "status": own.status_text if own else None,
                "reason": view.reason or (own.reason if own else None),
                "progress": progress_view(own) if own and own.progress else None,
            }
        )
    return shown


def _reasons(store: JobStore, plan: JobPlan, keys: list[str]) -> dict[str, str]:
    reasons: dict[str, str] = {}
    for part_id in failed_part_ids(plan, keys)[:MAX_PART_READS]:
        try:
            reasons[part_id] = PartError.from_json(
                store.read_object_text(error_key(plan.job_id, part_id))
            ).reason
        except (StoreError, ValueError, TypeError):
            continue  # part_views names it unreadable
    return reasons
