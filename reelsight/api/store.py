"""Data access for the API: the DynamoDB jobs table and the results/input buckets, through boto3.

The same code runs against moto locally (``AWS_ENDPOINT_URL``) and against AWS. Job records are
written by other components, so everything read here is treated as possibly incomplete.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from reelsight.contract.jobs import (
    InvalidPageToken,
    JobPage,
    JobRecord,
    JobsTable,
    JobStatus,
    ProgressOutcome,
    ProgressResult,
    now_iso,
)
from reelsight.contract.names import (
    UPLOAD_PREFIX,
    VIDEO_SUFFIXES,
    accepted_suffixes,
    is_video_key,
    job_prefix,
    s3_uri,
    video_content_type,
)

RESULT_URL_SECONDS = 3600
UPLOAD_URL_SECONDS = 900
MAX_LISTED_OBJECTS = 5000


class StoreError(Exception):
    """A request the store refuses; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class JobStore:
    """Reads job records and results; writes only progress entries."""

    def __init__(
        self,
        *,
        session: Any,
        jobs_table: str,
        results_bucket: str,
        input_bucket: str,
        upload_prefix: str = UPLOAD_PREFIX,
        video_suffixes: tuple[str, ...] = VIDEO_SUFFIXES,
    ) -> None:
        from botocore.config import Config

        retries = Config(retries={"mode": "standard", "max_attempts": 3})
        self.dynamodb = session.client("dynamodb", config=retries)
        self.s3 = session.client("s3", config=Config(signature_version="s3v4", retries=retries.retries))
        self.jobs_table = jobs_table
        self.results_bucket = results_bucket
        self.input_bucket = input_bucket
        self.upload_prefix = upload_prefix if upload_prefix.endswith("/") else upload_prefix + "/"
        self.video_suffixes = video_suffixes
        self.jobs = JobsTable(self.dynamodb, jobs_table)

    # --- jobs table: reads, listing and progress through the contract's repository ---

    def get_job(self, job_id: str) -> JobRecord | None:
        return self.jobs.get(job_id)

    def list_jobs(
        self,
        *,
        status: JobStatus | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
        next_token: str | None,
    ) -> JobPage:
        try:
            return self.jobs.list_page(
                status=status, since=since, until=until, limit=limit, next_token=next_token
            )
        except InvalidPageToken as exc:
            raise StoreError(400, str(exc)) from None

    def record_progress(
        self,
        job_id: str,
        video: str,
        frames_done: int,
        frames_total: int | None,
        *,
        entry: dict[str, Any] | None = None,
    ) -> ProgressOutcome:
        """Store one video's progress (forward only, unfinished jobs only); StoreError 404/409 otherwise."""
        outcome = self.jobs.record_progress(job_id, video, frames_done, frames_total, entry=entry)
        refusal = _progress_refusal(outcome, job_id, video, frames_done)
        if refusal is not None:
            raise refusal
        return outcome

    def mark_running(self, record: JobRecord) -> JobRecord:
        """A job that reports progress runs: a QUEUED record (a batch video's, which no SageMaker
        event moves) goes to RUNNING; the record as it now stands."""
        if record.status is not JobStatus.QUEUED:
            return record
        moved = self.jobs.transition(
            record.job_id, JobStatus.RUNNING, fields={"started_at": now_iso()}, must_exist=True
        )
        return moved.job or record

    # --- results bucket ---

    def presign_get(self, bucket: str, key: str, seconds: int = RESULT_URL_SECONDS) -> str:
        return str(
            self.s3.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=seconds
            )
        )

    def list_job_objects(self, job_id: str) -> list[dict[str, Any]]:
        """Objects under ``jobs/<job_id>/`` in the results bucket (at most MAX_LISTED_OBJECTS)."""
        objects: list[dict[str, Any]] = []
        paginator = self.s3.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.results_bucket, Prefix=job_prefix(job_id)):
                for obj in page.get("Contents", []):
                    objects.append({"key": obj["Key"], "size": int(obj.get("Size", 0))})
                    if len(objects) >= MAX_LISTED_OBJECTS:
                        return objects
        except ClientError as exc:
            if _error_code(exc) in ("NoSuchBucket", "AccessDenied"):
                return objects
            raise
        return objects

    def open_object(self, key: str) -> Iterator[bytes]:
        """Stream an object of the results bucket; StoreError 404 when it is gone."""
        try:
            body = self.s3.get_object(Bucket=self.results_bucket, Key=key)["Body"]
        except ClientError as exc:
            if _error_code(exc) in ("NoSuchKey", "404", "NoSuchBucket"):
                raise StoreError(404, f"{key} is not in the results bucket") from None
            raise
        return _chunks(body)

    def read_object_text(self, key: str) -> str:
        return b"".join(self.open_object(key)).decode("utf-8")

    # --- uploads ---

    def presign_upload(
        self, *, filename: str, content_type: str | None, metadata: dict[str, str]
    ) -> dict[str, Any]:
        name = safe_filename(filename, self.video_suffixes)
        content_type = content_type or video_content_type(name)
        key = f"{self.upload_prefix}{uuid.uuid4().hex}/{name}"
        params: dict[str, Any] = {"Bucket": self.input_bucket, "Key": key, "ContentType": content_type}
        if metadata:
            params["Metadata"] = metadata
        url = self.s3.generate_presigned_url("put_object", Params=params, ExpiresIn=UPLOAD_URL_SECONDS)
        headers = {"Content-Type": content_type, **{f"x-amz-meta-{k}": v for k, v in metadata.items()}}
        return {
            "url": url,
            "method": "PUT",
            "headers": headers,
            "bucket": self.input_bucket,
            "key": key,
            "s3_uri": s3_uri(self.input_bucket, key),
            "expires_in": UPLOAD_URL_SECONDS,
        }


def _progress_refusal(
    outcome: ProgressOutcome, job_id: str, video: str, frames_done: int
) -> StoreError | None:
    stored = outcome.entry.get("frames_done") if outcome.entry else None
    refusals = {
        ProgressResult.NO_JOB: StoreError(404, f"no job with id {job_id}"),
        ProgressResult.BACKWARD: StoreError(
            409,
            f"progress for {video!r} is already at {stored} frames; "
            f"only forward progress is accepted (got {frames_done})",
        ),
        ProgressResult.FINISHED: StoreError(
            409, f"job {job_id} has ended ({outcome.status}); its progress no longer changes"
        ),
        ProgressResult.UNSUPPORTED: StoreError(
            409, "this job's progress field cannot hold per-video progress"
        ),
    }
    return refusals.get(outcome.result)


def safe_filename(filename: str, suffixes: tuple[str, ...] = VIDEO_SUFFIXES) -> str:
    """The base name with anything but letters, digits, dot, dash and underscore replaced by ``_``.

    The stem is shortened to 150 characters and becomes ``video`` when nothing usable is left of it.
    The cleaned name must be one the pipeline processes (``is_video_key``), else StoreError 400: an
    upload the dispatcher would only record as REJECTED is refused before it is made.
    """
    base = re.split(r"[\\/]", filename)[-1]
    stem, dot, ending = base.rpartition(".")
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", stem).lstrip(".")[:150] or "video"
    name = f"{cleaned}.{ending}"
    if not dot or not is_video_key(name, suffixes):
        raise StoreError(
            400,
            f"filename must end in one of {accepted_suffixes(suffixes)}; the pipeline processes no other "
            f"files (got {filename!r})",
        )
    return name


def _chunks(body: Any, size: int = 1 << 16) -> Iterator[bytes]:
    try:
        while chunk := body.read(size):
            yield chunk
    finally:
        body.close()


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
