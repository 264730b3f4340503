"""Batch, split and resume jobs: a request document ``batch/<name>.batch.json`` (or an upload with
metadata ``split=<N>``) -> a plan, a manifest, job records, and one Processing job over N instances.

A request that cannot run (bad JSON, a missing video, an empty prefix, more instances than videos,
a job that cannot resume) ends as a REJECTED record of the request with the reason, and a
notification. The job's record is created first (a job already submitted stops there), then the plan
and the manifest, the batch videos' records, and the Processing job, so a retried dispatch finds
what the first one wrote and completes it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from lambdas.common.clients import Clients
from lambdas.common.parts import Unreadable, list_part_files, read_bounded, read_plan, write_inputs
from lambdas.common.settings import Settings
from lambdas.dispatch import routing, submit
from lambdas.dispatch.outcomes import DUPLICATE, SUBMITTED, Outcome, base_record, reject
from lambdas.dispatch.records import ObjectEvent
from reelsight.contract.batch import (
    MAX_PARTS,
    BatchRequest,
    JobPlan,
    Part,
    attempt_job_name,
    part_prefix,
    pending_parts,
    plan_batch,
    plan_split,
)
from reelsight.contract.jobs import (
    RESUMABLE_FROM,
    JobRecord,
    JobsTable,
    JobStatus,
    history_entry,
    now_iso,
)
from reelsight.contract.names import S3_SCHEME, VIDEO_SOURCE_PREFIXES, is_video_key, s3_uri, split_s3_uri
from reelsight.errors import ParamError
from reelsight.models.registry import get_spec

logger = Logger(service="reelsight-dispatch", child=True)

MAX_REQUEST_BYTES = 1024 * 1024
MAX_SKIPPED_LISTED = 100  # non-video keys named on a batch record; the count says how many in all
_MISSING = ("404", "NoSuchKey", "NotFound", "NoSuchVersion")


@dataclass(frozen=True)
class _Start:
    """A plan ready to run, with what its job record states."""

    plan: JobPlan
    wanted: routing.ObjectOptions
    instance_count: int
    record: JobRecord


def dispatch_request(
    event: ObjectEvent, *, job_id: str, settings: Settings, clients: Clients, environ: Mapping[str, str]
) -> Outcome:
    """Dispatch one batch request document; ``job_id`` is the request's (and a new job's) id."""
    definition = submit.definition_of(settings)
    try:
        request = _read_request(clients.s3, event)
        if request.resume:
            return _resume(event, job_id, request, settings=settings, clients=clients, environ=environ)
        start = _prepare(event, job_id, request, settings, clients, environ, definition.instance_count)
    except ParamError as error:
        return reject(event, job_id, f"invalid batch request: {error}", settings, clients)
    return start_plan(start, settings=settings, clients=clients)


def start_split_upload(
    event: ObjectEvent,
    job_id: str,
    wanted: routing.ObjectOptions,
    details: dict[str, Any],
    *,
    settings: Settings,
    clients: Clients,
) -> Outcome:
    """An upload with metadata ``split=<N>``: one job over N instances, one time range each."""
    ranges = wanted.split or 1
    plan = plan_split(
        job_id, s3_uri(event.bucket, event.key), ranges, options=wanted.overrides,
        suffixes=settings.video_suffixes,
    )  # fmt: skip
    record = replace(
        _plan_record(event, job_id, settings, plan, wanted, ranges),
        **details,
        route_reason=f"split into {ranges} time ranges by metadata split",
        ignored_metadata=list(wanted.ignored_keys) or None,
    )
    return start_plan(_Start(plan, wanted, ranges, record), settings=settings, clients=clients)


# --- reading and checking the request ---------------------------------------------------------------


def _read_request(s3: Any, event: ObjectEvent) -> BatchRequest:
    try:
        data = read_bounded(s3, event.bucket, event.key, MAX_REQUEST_BYTES)
    except Unreadable as error:
        raise ParamError(str(error).replace(f"{MAX_REQUEST_BYTES} bytes", "1 MiB")) from None
    return BatchRequest.from_json(data)


def _prepare(
    event: ObjectEvent,
    job_id: str,
    request: BatchRequest,
    settings: Settings,
    clients: Clients,
    environ: Mapping[str, str],
    default_instances: int,
) -> _Start:
    """The plan of a batch or split request, every video checked; ParamError says what is wrong."""
    wanted = run_options(request.options, environ)
    videos, skipped = _resolve_videos(request, settings, clients.s3)
    mode, image_format, options = request.mode, request.image_format, wanted.overrides
    if request.split:
        ranges = request.instance_count or default_instances
        plan = plan_split(
            job_id, videos[0], ranges, mode=mode, image_format=image_format, options=options,
            suffixes=settings.video_suffixes,
        )  # fmt: skip
        instances = ranges
    else:
        plan = plan_batch(
            job_id, videos, mode=mode, image_format=image_format, options=options,
            suffixes=settings.video_suffixes,
        )  # fmt: skip
        instances = _batch_instances(request.instance_count, default_instances, len(plan.parts))
    record = _plan_record(event, job_id, settings, plan, wanted, instances)
    if skipped:
        listed = skipped[:MAX_SKIPPED_LISTED]
        more = len(skipped) - len(listed)
        record = replace(record, skipped_keys=listed + ([f"... and {more} more"] if more else []))
    return _Start(plan, wanted, instances, record)


def run_options(options: Mapping[str, str], environ: Mapping[str, str]) -> routing.ObjectOptions:
    """A request's run options, validated as an upload's metadata is; unknown names are refused."""
    wanted = routing.options_from_metadata(options, environ)
    if wanted.ignored_keys:
        raise ParamError(f"unknown run options {list(wanted.ignored_keys)}")
    if wanted.route_hint == routing.ASYNC or wanted.split is not None:
        raise ParamError("options route and split do not apply to a batch request")
    return wanted


def _batch_instances(requested: int | None, default: int, videos: int) -> int:
    if requested is not None and requested > videos:
        raise ParamError(
            f"instance_count {requested} is more than the {videos} video(s) of the batch: "
            f"each instance needs a video; ask for at most {videos}"
        )
    return requested or min(default, videos)


def _resolve_videos(request: BatchRequest, settings: Settings, s3: Any) -> tuple[list[str], list[str]]:
    """The videos' s3:// URIs in the input bucket, and the non-video keys a prefix also held."""
    bucket = settings.input_bucket
    if request.prefix:
        return _list_prefix(s3, bucket, _key_in(bucket, request.prefix), settings)
    keys = [_key_in(bucket, ref) for ref in request.videos]
    not_videos = [key for key in keys if not is_video_key(key, settings.video_suffixes)]
    if not_videos:
        raise ParamError(f"not videos: {', '.join(not_videos[:10])}")
    missing = [key for key in keys if not _exists(s3, bucket, key)]
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise ParamError(f"{len(missing)} video(s) do not exist in s3://{bucket}/: {shown}")
    return [s3_uri(bucket, key) for key in keys], []


def _key_in(bucket: str, ref: str) -> str:
    """A key of the input bucket from a key or an s3:// URI, under a prefix Processing jobs may read;
    ParamError for another bucket or prefix."""
    if ref.startswith(S3_SCHEME):
        try:
            named, key = split_s3_uri(ref)
        except ValueError as error:
            raise ParamError(str(error)) from None
        if named != bucket:
            raise ParamError(f"videos must be in the input bucket {bucket}, not {named}: {ref}")
    else:
        key = ref.lstrip("/")
    if not key.startswith(VIDEO_SOURCE_PREFIXES):
        allowed = ", ".join(VIDEO_SOURCE_PREFIXES)
        raise ParamError(f"batch videos must be under {allowed} in the input bucket, got {key!r}")
    return key


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if str(error.response.get("Error", {}).get("Code", "")) in _MISSING:
            return False
        raise
    return True


def _list_prefix(s3: Any, bucket: str, prefix: str, settings: Settings) -> tuple[list[str], list[str]]:
    videos: list[str] = []
    skipped: list[str] = []
    for key in _keys_under(s3, bucket, prefix):
        if key.endswith("/"):
            continue
        if is_video_key(key, settings.video_suffixes):
            videos.append(s3_uri(bucket, key))
        else:
            skipped.append(key)
        if len(videos) > MAX_PARTS:
            raise ParamError(f"the prefix s3://{bucket}/{prefix} holds more than {MAX_PARTS} videos")
    if not videos:
        raise ParamError(f"the prefix s3://{bucket}/{prefix} holds no video")
    return videos, skipped


def _keys_under(s3: Any, bucket: str, prefix: str) -> Iterator[str]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield str(item["Key"])


# --- records and the start --------------------------------------------------------------------------


def _plan_record(
    event: ObjectEvent,
    job_id: str,
    settings: Settings,
    plan: JobPlan,
    wanted: routing.ObjectOptions,
    instances: int,
) -> JobRecord:
    record = replace(
        base_record(event, job_id, settings, JobStatus.QUEUED),
        route=routing.PROCESSING,
        route_reason=f"{plan.kind} request over {len(plan.parts)} part(s)",
        params=dict(wanted.overrides),
        options=wanted.options.to_dict(),
        kind=plan.kind,
        parts=len(plan.parts),
        attempt=1,
        instance_count=instances,
        process_mode=plan.mode,
        image_format=plan.image_format,
        processing_job_name=attempt_job_name(job_id, 1),
    )
    if plan.kind == "split":  # the job stands for its one video
        bucket, key = split_s3_uri(plan.parts[0].video)
        record = replace(
            record, source=plan.parts[0].video, bucket=bucket, key=key, video=posixpath.basename(key)
        )
    return record


def _video_record(plan: JobPlan, part: Part, index: int, results_bucket: str, base: JobRecord) -> JobRecord:
    bucket, key = split_s3_uri(part.video)
    moment = now_iso()
    return JobRecord(
        job_id=part.job_id or "",
        status=JobStatus.QUEUED,
        source=part.video,
        bucket=bucket,
        key=key,
        video=posixpath.basename(key),
        created_at=moment,
        updated_at=moment,
        status_history=[history_entry(JobStatus.QUEUED, moment)],
        route=routing.PROCESSING,
        route_reason=f"video {index + 1} of {len(plan.parts)} of batch {plan.job_id}",
        params=base.params,
        options=base.options,
        process_mode=plan.mode,
        image_format=plan.image_format,
        batch_id=plan.job_id,
        part_id=part.part_id,
        processing_job_name=base.processing_job_name,
        results_prefix=s3_uri(results_bucket, part_prefix(plan.job_id, part.part_id)),
    )


def start_plan(start: _Start, *, settings: Settings, clients: Clients) -> Outcome:
    """Record the job, write its plan and manifest, record each batch video, start attempt 1."""
    plan = start.plan
    definition = submit.definition_of(settings)
    store = JobsTable(clients.dynamodb, settings.jobs_table)
    # The record first: a started job's plan is never written again (a late redelivery of its request).
    if not store.create(start.record):
        return Outcome(
            DUPLICATE, job_id=plan.job_id, route=routing.PROCESSING, reason="job already submitted"
        )
    write_inputs(clients.s3, definition.results_bucket, plan, 1, _manifest_parts(plan, list(plan.parts)))
    if plan.kind == "batch":
        for index, part in enumerate(plan.parts):
            store.create(
                _video_record(plan, part, index, definition.results_bucket, start.record)
            )  # False: a retry
    fields = submit.start_plan(
        clients.sagemaker,
        settings,
        plan=plan,
        attempt=1,
        instance_count=start.instance_count,
        framework=get_spec(start.wanted.options.model).framework,
    )
    store.mark_submitted(plan.job_id, fields)
    logger.info("plan submitted", extra={"kind": plan.kind, "parts": len(plan.parts), **fields})
    reason = start.record.route_reason
    return Outcome(SUBMITTED, job_id=plan.job_id, route=routing.PROCESSING, reason=reason)


def _manifest_parts(plan: JobPlan, parts: list[Part]) -> list[Part]:
    """The videos an attempt reads: a batch's pending ones; a split's one video, once."""
    return parts if plan.kind == "batch" else [plan.parts[0]]


# --- resume -----------------------------------------------------------------------------------------


def _resume(
    event: ObjectEvent,
    request_id: str,
    request: BatchRequest,
    *,
    settings: Settings,
    clients: Clients,
    environ: Mapping[str, str],
) -> Outcome:
    """Rerun the unfinished parts of a PARTIAL or FAILED job as its next attempt."""
    target = str(request.resume)
    store = JobsTable(clients.dynamodb, settings.jobs_table)
    job = store.get(target)
    refusal = _resume_refusal(job, target, request_id)
    if refusal or job is None:
        return reject(event, request_id, refusal or f"job {target} does not exist", settings, clients)
    definition = submit.definition_of(settings)
    try:
        plan = read_plan(clients.s3, definition.results_bucket, target)
    except Unreadable as error:
        return reject(event, request_id, f"job {target} cannot resume: {error}", settings, clients)
    done = list_part_files(clients.s3, definition.results_bucket, plan).markers
    pending = pending_parts(plan, done)
    if not pending:
        why = f"every part of job {target} has its completion marker: nothing to resume"
        return reject(event, request_id, why, settings, clients)
    retried = job.status == JobStatus.QUEUED  # this request's earlier delivery moved it already
    attempt = (job.attempt or 1) + (0 if retried else 1)
    instances = min(job.instance_count or definition.instance_count, len(pending))
    write_inputs(clients.s3, definition.results_bucket, plan, attempt, _manifest_parts(plan, pending))
    reason = f"resumed as attempt {attempt} by {s3_uri(event.bucket, event.key)}"
    fields = {
        "resumed_by": request_id,
        "instance_count": instances,
        "processing_job_name": attempt_job_name(target, attempt),
    }
    if not retried and not store.resume(target, attempt=attempt, reason=reason, fields=fields):
        return Outcome(DUPLICATE, job_id=target, route=routing.PROCESSING, reason="job already resumed")
    for part in pending:
        if part.job_id:
            store.resume(
                part.job_id, attempt=attempt, reason=reason, fields=fields, statuses={JobStatus.FAILED}
            )
    wanted = run_options(plan.options, environ)
    submitted = submit.start_plan(
        clients.sagemaker,
        settings,
        plan=plan,
        attempt=attempt,
        instance_count=instances,
        framework=get_spec(wanted.options.model).framework,
    )
    store.mark_submitted(target, submitted)
    logger.info("job resumed", extra={"attempt": attempt, "pending": len(pending), **submitted})
    return Outcome(SUBMITTED, job_id=target, route=routing.PROCESSING, reason=reason)


def _resume_refusal(job: JobRecord | None, target: str, request_id: str) -> str | None:
    if job is None:
        return f"job {target} does not exist"
    if job.kind not in ("batch", "split"):
        return f"job {target} is not a batch or split job; only those resume"
    if job.status in RESUMABLE_FROM:
        return None
    if job.status == JobStatus.QUEUED and job.resumed_by == request_id:
        return None
    if job.status == JobStatus.SUCCEEDED:
        return f"job {target} is SUCCEEDED, nothing to resume"
    return f"job {target} is {job.status_text}: only a PARTIAL or FAILED job resumes"
