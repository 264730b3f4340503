"""A batch or split job's files in the results bucket, as the dispatcher and the results Lambda read
and write them: the plan, the manifest of an attempt, the part markers and error records.

Every read is bounded (one ranged GET), so a huge or hostile object cannot exhaust a Lambda.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from reelsight.contract.batch import (
    ERROR_FILE,
    MARKER_FILE,
    JobPlan,
    Part,
    PartError,
    PartMarker,
    manifest_document,
    manifest_key,
    part_prefix,
    plan_key,
)
from reelsight.contract.names import job_prefix, s3_uri

PLAN_MAX_BYTES = 8 * 1024 * 1024  # 10,000 parts of a few hundred bytes each
RECORD_MAX_BYTES = 64 * 1024  # a marker or an error record
MAX_ERROR_READS = 1000  # error records read per roll-up; beyond, the job's own failure stands
JSON = "application/json"
_MISSING = ("NoSuchKey", "404", "NotFound")


class Unreadable(ValueError):
    """An object that is missing, too large, or not what it should be."""


def read_bounded(s3: Any, bucket: str, key: str, max_bytes: int) -> bytes:
    """The whole object, or Unreadable when it is missing or larger than ``max_bytes``."""
    try:
        response = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{max_bytes}")
    except ClientError as error:
        if str(error.response.get("Error", {}).get("Code")) in (*_MISSING, "InvalidRange"):
            raise Unreadable(f"{s3_uri(bucket, key)} does not exist") from None
        raise
    data: bytes = response["Body"].read(max_bytes + 1)
    if len(data) > max_bytes:
        raise Unreadable(f"{s3_uri(bucket, key)} is larger than {max_bytes} bytes")
    return data


def write_inputs(s3: Any, bucket: str, plan: JobPlan, attempt: int, parts: Iterable[Part]) -> None:
    """``plan.json`` and the attempt's ManifestFile naming ``parts``' videos (the job's two inputs)."""
    s3.put_object(Bucket=bucket, Key=plan_key(plan.job_id), Body=plan.to_json().encode(), ContentType=JSON)
    s3.put_object(
        Bucket=bucket,
        Key=manifest_key(plan.job_id, attempt),
        Body=manifest_document(plan, parts).encode(),
        ContentType=JSON,
    )


def read_plan(s3: Any, bucket: str, job_id: str) -> JobPlan:
    data = read_bounded(s3, bucket, plan_key(job_id), PLAN_MAX_BYTES)
    try:
        plan = JobPlan.from_json(data)
    except (ValueError, TypeError) as error:
        raise Unreadable(f"the plan of job {job_id} is not a job plan: {error}") from None
    if plan.job_id != job_id:
        raise Unreadable(f"the plan of job {job_id} names job {plan.job_id}")
    return plan


@dataclass(frozen=True)
class PartFiles:
    """Which parts have a marker and which an error record (part id -> key)."""

    markers: dict[str, str]
    errors: dict[str, str]


def list_part_files(s3: Any, bucket: str, plan: JobPlan) -> PartFiles:
    """Markers and error records of the plan's parts, found by listing the job's folder."""
    wanted = {part_prefix(plan.job_id, part_id): part_id for part_id in plan.part_ids}
    markers: dict[str, str] = {}
    errors: dict[str, str] = {}
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=job_prefix(plan.job_id)):
        for item in page.get("Contents", []):
            key = str(item["Key"])
            folder, _, name = key.rpartition("/")
            part_id = wanted.get(folder + "/")
            if part_id is None:
                continue
            if name == MARKER_FILE:
                markers[part_id] = key
            elif name == ERROR_FILE:
                errors[part_id] = key
    return PartFiles(markers, errors)


def read_marker(s3: Any, bucket: str, key: str) -> PartMarker | None:
    try:
        return PartMarker.from_json(read_bounded(s3, bucket, key, RECORD_MAX_BYTES))
    except (Unreadable, ValueError, TypeError):
        return None


def read_error_reasons(s3: Any, bucket: str, errors: dict[str, str]) -> dict[str, str]:
    """Each failed part's reason, from its error record (a bounded number of them)."""
    reasons: dict[str, str] = {}
    for part_id, key in list(errors.items())[:MAX_ERROR_READS]:
        try:
            record = PartError.from_json(read_bounded(s3, bucket, key, RECORD_MAX_BYTES))
        except (Unreadable, ValueError, TypeError) as error:
            reasons[part_id] = f"its error record is unreadable: {error}"
            continue
        reasons[part_id] = record.reason
    return reasons
