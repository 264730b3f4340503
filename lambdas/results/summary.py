"""Read the run summary a job wrote, fetching no more of the output than needed.

The async output is the worker's result document ``{"schema_version", "summary", "frames"}`` with the
summary first, so a prefix of a large document is enough. A Processing job writes ``summary.json``
files under its output prefix.
"""

from __future__ import annotations

import json
import re
from typing import Any

from botocore.exceptions import ClientError

from lambdas.common.s3uri import parse_s3_uri

_SUMMARY_KEY = re.compile(r'"summary"\s*:\s*')
_MISSING = ("NoSuchKey", "404", "NotFound", "NoSuchBucket")
SHORT_KEYS = ("frames_sampled", "detections_total", "counts_per_class", "status", "partial", "approximate")


class OutputUnreadable(ValueError):
    """The output exists but holds no summary we can read."""


def extract_summary(data: bytes, complete: bool) -> dict[str, Any]:
    """The ``summary`` object of a result document, from the whole document or from its first bytes."""
    text = data.decode("utf-8", errors="replace")
    if complete:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise OutputUnreadable(f"output is not JSON: {exc}") from None
        if isinstance(document, dict) and isinstance(document.get("summary"), dict):
            return document["summary"]
        if isinstance(document, dict) and "frames_sampled" in document:
            return document  # a bare summary.json
        raise OutputUnreadable("output has no 'summary' object")
    match = _SUMMARY_KEY.search(text)
    if not match:
        raise OutputUnreadable("no 'summary' in the first bytes of the output")
    try:
        summary, _ = json.JSONDecoder().raw_decode(text, match.end())
    except json.JSONDecodeError as exc:
        raise OutputUnreadable(f"summary is cut off or invalid: {exc}") from None
    if not isinstance(summary, dict):
        raise OutputUnreadable("'summary' is not an object")
    return summary


def _read_prefix(s3: Any, bucket: str, key: str, max_bytes: int) -> tuple[bytes, bool]:
    response = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{max_bytes - 1}")
    data = response["Body"].read()
    total = response.get("ContentRange", "").rpartition("/")[2]
    complete = not total.isdigit() or int(total) <= len(data)
    return data, complete


def _find_summary_key(s3: Any, bucket: str, prefix: str) -> str | None:
    response = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1000)
    keys = [obj["Key"] for obj in response.get("Contents", []) if obj["Key"].endswith("summary.json")]
    return min(keys, key=lambda k: (k.count("/"), k)) if keys else None


def read_summary(s3: Any, location: str, max_bytes: int) -> dict[str, Any] | None:
    """The full summary dict at ``location`` (an object, or a prefix ending in ``/``); None when absent.

    Transient S3 errors raise (the message is retried); a missing or unreadable output returns None.
    """
    try:
        bucket, key = parse_s3_uri(location)
    except ValueError:
        return None
    try:
        if key.endswith("/") or not key:
            found = _find_summary_key(s3, bucket, key)
            if found is None:
                return None
            key = found
        data, complete = _read_prefix(s3, bucket, key, max_bytes)
        return extract_summary(data, complete)
    except OutputUnreadable:
        return None
    except ClientError as error:
        if str(error.response.get("Error", {}).get("Code")) in _MISSING:
            return None
        raise


def short_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """What goes in the notification and on the job record: counts, not frames."""
    short = {key: summary[key] for key in SHORT_KEYS if key in summary}
    model = summary.get("model")
    if isinstance(model, dict) and model.get("name"):
        short["model"] = model["name"]
        if model.get("random_weights"):
            short["random_weights"] = True
    video = summary.get("video")
    if isinstance(video, dict) and video.get("duration") is not None:
        short["video_duration"] = video["duration"]
    if isinstance(summary.get("artifacts"), dict):
        short["artifacts"] = summary["artifacts"]
    if summary.get("warnings"):
        short["warnings"] = list(summary["warnings"])[:5]
    return short


def read_failure_text(s3: Any, location: str, limit: int = 1000) -> str | None:
    """The first ``limit`` characters of an async failure object, used when the notification has no reason."""
    try:
        bucket, key = parse_s3_uri(location)
        data, _ = _read_prefix(s3, bucket, key, limit)
    except (ValueError, ClientError):
        return None
    text = data.decode("utf-8", errors="replace").strip()
    return text or None
