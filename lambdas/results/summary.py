"""Read the run summary a job wrote, with one bounded GET and ``json.loads``.

The async output is the worker's answer body: the run summary itself, a few kilobytes (the frames are
in ``artifacts/frames.jsonl``, never in the body). Workers before that wrote a result document
``{"schema_version", "summary", "frames"}``; its ``summary`` object is read when the document fits
in the bounded read, and otherwise the job's ``artifacts/summary.json``, which those workers
uploaded too, is read instead (the caller's ``fallback``). A Processing job writes ``summary.json``
files under its output prefix; the shallowest one is read.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from reelsight.contract.names import SUMMARY_FILE, split_s3_uri
from reelsight.contract.summary import RunSummary

_MISSING = ("NoSuchKey", "404", "NotFound", "NoSuchBucket")


class OutputUnreadable(ValueError):
    """The output exists but holds no summary we can read."""


def parse_summary(data: bytes) -> RunSummary:
    """The run summary in a whole output object: a summary, or an older worker's result document."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OutputUnreadable(f"output is not JSON: {exc}") from None
    try:
        return RunSummary.from_output(document)
    except ValueError as exc:
        raise OutputUnreadable(str(exc)) from None


def _read_prefix(s3: Any, bucket: str, key: str, max_bytes: int) -> tuple[bytes, bool]:
    response = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{max_bytes - 1}")
    data = response["Body"].read()
    total = response.get("ContentRange", "").rpartition("/")[2]
    complete = not total.isdigit() or int(total) <= len(data)
    return data, complete


def _find_summary_key(s3: Any, bucket: str, prefix: str) -> str | None:
    response = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1000)
    keys = [obj["Key"] for obj in response.get("Contents", []) if obj["Key"].endswith(SUMMARY_FILE)]
    return min(keys, key=lambda k: (k.count("/"), k)) if keys else None


def _read_one(s3: Any, location: str, max_bytes: int) -> RunSummary | None:
    try:
        bucket, key = split_s3_uri(location)
    except ValueError:
        return None
    try:
        if key.endswith("/") or not key:
            found = _find_summary_key(s3, bucket, key)
            if found is None:
                return None
            key = found
        data, complete = _read_prefix(s3, bucket, key, max_bytes)
        if not complete:
            raise OutputUnreadable(
                f"{location} is larger than {max_bytes} bytes (an older worker's document)"
            )
        return parse_summary(data)
    except OutputUnreadable:
        return None
    except ClientError as error:
        if str(error.response.get("Error", {}).get("Code")) in _MISSING:
            return None
        raise


def read_summary(
    s3: Any, location: str | None, max_bytes: int, *, fallback: str | None = None
) -> RunSummary | None:
    """The summary at ``location`` (an object, or a prefix ending in ``/``), else at ``fallback``.

    None when neither holds a readable summary; transient S3 errors raise (the message is retried).
    """
    for candidate in (location, fallback):
        summary = _read_one(s3, candidate, max_bytes) if candidate else None
        if summary is not None:
            return summary
    return None


def read_failure_text(s3: Any, location: str, limit: int = 1000) -> str | None:
    """The first ``limit`` characters of an async failure object, used when the notification has no reason."""
    try:
        bucket, key = split_s3_uri(location)
        data, _ = _read_prefix(s3, bucket, key, limit)
    except (ValueError, ClientError):
        return None
    text = data.decode("utf-8", errors="replace").strip()
    return text or None
