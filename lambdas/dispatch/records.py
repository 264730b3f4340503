"""Turn one SQS message body into the S3 object events it carries.

Handles S3 -> SQS and S3 -> SNS -> SQS bodies, skips ``s3:TestEvent``, and decodes keys with
``unquote_plus`` (AWS encodes spaces as ``+``; moto also encodes ``/`` as ``%2F``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus


class MalformedMessage(ValueError):
    """The message is not an S3 notification this dispatcher understands."""


@dataclass(frozen=True)
class ObjectEvent:
    bucket: str
    key: str  # decoded
    event_name: str
    size: int | None = None
    etag: str | None = None
    version_id: str | None = None
    sequencer: str | None = None
    event_time: str | None = None


def is_test_event(body: dict[str, Any]) -> bool:
    return body.get("Event") == "s3:TestEvent"


def _load(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, json.JSONDecodeError) as exc:
        raise MalformedMessage(f"body is not JSON: {exc}") from None


def parse_body(text: str) -> list[ObjectEvent]:
    """Object events in an SQS body; ``[]`` for test events. MalformedMessage for anything unknown."""
    body = _load(text)
    if isinstance(body, dict) and body.get("Type") == "Notification" and isinstance(body.get("Message"), str):
        body = _load(body["Message"])  # S3 -> SNS -> SQS without raw delivery
    if not isinstance(body, dict):
        raise MalformedMessage("body is not a JSON object")
    if is_test_event(body):
        return []
    records = body.get("Records")
    if not isinstance(records, list):
        raise MalformedMessage("no 'Records' list: not an S3 event notification")
    return [parse_record(record) for record in records]


def parse_record(record: Any) -> ObjectEvent:
    if not isinstance(record, dict):
        raise MalformedMessage("S3 record is not an object")
    s3 = record.get("s3") or {}
    bucket = (s3.get("bucket") or {}).get("name")
    obj = s3.get("object") or {}
    raw_key = obj.get("key")
    if not isinstance(bucket, str) or not bucket or not isinstance(raw_key, str) or not raw_key:
        raise MalformedMessage("S3 record without bucket name or object key")
    size = obj.get("size")
    return ObjectEvent(
        bucket=bucket,
        key=unquote_plus(raw_key),
        event_name=str(record.get("eventName") or ""),
        size=int(size) if isinstance(size, int | float) and not isinstance(size, bool) else None,
        etag=obj.get("eTag") or obj.get("etag") or None,
        version_id=obj.get("versionId") or None,
        sequencer=obj.get("sequencer") or None,
        event_time=record.get("eventTime") or None,
    )
