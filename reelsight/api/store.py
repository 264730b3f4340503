"""Data access for the API: the DynamoDB jobs table and the results/input buckets, through boto3.

The same code runs against moto locally (``AWS_ENDPOINT_URL``) and against AWS. Job records are
written by other components, so everything read here is treated as possibly incomplete.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from reelsight.media import OCTET_STREAM, VIDEO_CONTENT_TYPES, VIDEO_SUFFIXES

STATUS_INDEX = "by_status"
RESULT_URL_SECONDS = 3600
UPLOAD_URL_SECONDS = 900
MAX_LISTED_OBJECTS = 5000
MAX_DYNAMODB_CALLS_PER_PAGE = 20
# The dispatcher's default video suffixes (REELSIGHT_VIDEO_SUFFIXES overrides both).
DEFAULT_VIDEO_SUFFIXES = VIDEO_SUFFIXES
TERMINAL_STATUSES = frozenset({"completed", "succeeded", "failed", "error", "stopped", "expired"})

_deserializer = TypeDeserializer()
_serializer = TypeSerializer()


class StoreError(Exception):
    """A request the store refuses; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def plain(value: Any) -> Any:
    """DynamoDB values (Decimal, sets, bytes) as JSON-ready Python values."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(plain(v) for v in value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if hasattr(value, "value") and isinstance(getattr(value, "value", None), bytes):  # boto3 Binary
        return base64.b64encode(value.value).decode("ascii")
    return value


def _item(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: plain(_deserializer.deserialize(v)) for k, v in raw.items()}


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 string or epoch seconds as an aware UTC datetime; None when unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return None


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def split_s3_uri(uri: Any) -> tuple[str, str] | None:
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        return None
    parts = urlsplit(uri)
    key = uri[len(f"s3://{parts.netloc}/") :]
    return (parts.netloc, key) if parts.netloc and key else None


# --- Paging tokens: opaque to clients, validated strictly here. ---


def encode_page_token(mode: str, key: dict[str, Any]) -> str:
    raw = json.dumps({"m": mode, "k": key}, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_page_token(token: str, mode: str, status: str | None) -> dict[str, Any]:
    bad = StoreError(400, "the 'next' token is not valid for this query; start again without it")
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error):
        raise bad from None
    if not isinstance(data, dict) or data.get("m") != mode or not isinstance(data.get("k"), dict):
        raise bad
    key: dict[str, Any] = data["k"]
    expected = {"job_id", "status", "created_at"} if mode == "index" else {"job_id"}
    if set(key) != expected:
        raise bad
    for value in key.values():
        if not (isinstance(value, dict) and len(value) == 1):
            raise bad
        ((kind, text),) = value.items()
        if kind not in ("S", "N") or not isinstance(text, str) or not 0 < len(text) <= 1024:
            raise bad
    if mode == "index" and key["status"] != {"S": status}:
        raise bad
    return key


@dataclass
class JobPage:
    items: list[dict[str, Any]]
    next: str | None


@dataclass
class ProgressOutcome:
    applied: bool
    previous: dict[str, Any] | None
    current: dict[str, Any]


class JobStore:
    """Reads job records and results; writes only progress entries."""

    def __init__(
        self,
        *,
        session: Any,
        jobs_table: str,
        results_bucket: str,
        input_bucket: str,
        upload_prefix: str = "incoming/",
        video_suffixes: tuple[str, ...] = DEFAULT_VIDEO_SUFFIXES,
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
        self._sort_key_type: str | None = None
        self._lock = threading.Lock()

    # --- jobs table ---

    def _created_at_type(self) -> str:
        """The by_status index's sort key type ("S" for ISO strings, "N" for epoch seconds)."""
        with self._lock:
            if self._sort_key_type is None:
                table = self.dynamodb.describe_table(TableName=self.jobs_table)["Table"]
                types = {
                    a["AttributeName"]: a["AttributeType"] for a in table.get("AttributeDefinitions", [])
                }
                self._sort_key_type = types.get("created_at", "S")
            return self._sort_key_type

    def _bound(self, when: datetime, upper: bool) -> dict[str, str]:
        if self._created_at_type() == "N":
            return {"N": str(int(when.timestamp()) + (1 if upper else 0))}
        # Stored strings may end in "Z", "+00:00" or fractions; compare on the seconds prefix and
        # let the exact check in Python decide.
        prefix = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return {"S": prefix + "~" if upper else prefix}

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        answer = self.dynamodb.get_item(
            TableName=self.jobs_table, Key={"job_id": {"S": job_id}}, ConsistentRead=True
        )
        return _item(answer["Item"]) if "Item" in answer else None

    def list_jobs(
        self,
        *,
        status: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
        next_token: str | None,
    ) -> JobPage:
        mode = "index" if status else "scan"
        start_key = decode_page_token(next_token, mode, status) if next_token else None
        request: dict[str, Any] = {"TableName": self.jobs_table}
        values: dict[str, Any] = {}
        conditions: list[str] = []
        if since:
            values[":since"] = self._bound(since, upper=False)
        if until:
            values[":until"] = self._bound(until, upper=True)
        if since and until:  # a key condition allows one comparison on the sort key
            conditions.append("created_at BETWEEN :since AND :until")
        elif since:
            conditions.append("created_at >= :since")
        elif until:
            conditions.append("created_at <= :until")
        if status:
            values[":status"] = {"S": status}
            request.update(
                IndexName=STATUS_INDEX,
                KeyConditionExpression=" AND ".join(["#status = :status", *conditions]),
                ExpressionAttributeNames={"#status": "status"},
                ScanIndexForward=False,  # newest first
            )
            call = self.dynamodb.query
        else:
            if conditions:
                request["FilterExpression"] = " AND ".join(conditions)
            call = self.dynamodb.scan
        if values:
            request["ExpressionAttributeValues"] = values

        items: list[dict[str, Any]] = []
        last_key: dict[str, Any] | None = start_key
        for _ in range(MAX_DYNAMODB_CALLS_PER_PAGE):
            if last_key:
                request["ExclusiveStartKey"] = last_key
            answer = call(**request, Limit=limit)
            page_key = answer.get("LastEvaluatedKey")
            for raw in answer.get("Items", []):
                last_key = self._page_key(raw, mode)
                item = _item(raw)
                if not self._in_window(item, since, until):
                    continue
                items.append(item)
                if len(items) == limit:
                    # Stopped inside (or at the end of) a DynamoDB page: resume after this item.
                    more = page_key is not None or raw is not answer["Items"][-1]
                    return JobPage(items, encode_page_token(mode, last_key) if more else None)
            if page_key is None:
                return JobPage(items, None)
            last_key = page_key
        return JobPage(items, encode_page_token(mode, last_key) if last_key else None)

    @staticmethod
    def _page_key(raw: dict[str, Any], mode: str) -> dict[str, Any]:
        names = ("job_id", "status", "created_at") if mode == "index" else ("job_id",)
        return {name: raw[name] for name in names if name in raw}

    @staticmethod
    def _in_window(item: dict[str, Any], since: datetime | None, until: datetime | None) -> bool:
        if not since and not until:
            return True
        created = parse_time(item.get("created_at"))
        if created is None:
            return False
        return (since is None or created >= since) and (until is None or created <= until)

    def record_progress(
        self, job_id: str, video: str, frames_done: int, frames_total: int | None
    ) -> ProgressOutcome:
        """Store one video's progress if it moves forward; raise StoreError 404/409 otherwise."""
        key = {"job_id": {"S": job_id}}
        entry: dict[str, Any] = {"frames_done": frames_done, "updated_at": iso(datetime.now(UTC))}
        if frames_total is not None:
            entry["frames_total"] = frames_total
        try:  # make sure the progress map exists; a no-op when it already does
            self.dynamodb.update_item(
                TableName=self.jobs_table,
                Key=key,
                UpdateExpression="SET progress = :empty",
                ConditionExpression="attribute_exists(job_id) AND attribute_not_exists(progress)",
                ExpressionAttributeValues={":empty": {"M": {}}},
            )
        except ClientError as exc:
            if _error_code(exc) != "ConditionalCheckFailedException":
                raise
        try:
            self.dynamodb.update_item(
                TableName=self.jobs_table,
                Key=key,
                UpdateExpression="SET progress.#video = :entry",
                ConditionExpression=(
                    "attribute_exists(job_id) AND "
                    "(attribute_not_exists(progress.#video) OR progress.#video.frames_done < :done)"
                ),
                ExpressionAttributeNames={"#video": video},
                ExpressionAttributeValues={
                    ":entry": _serializer.serialize(entry),
                    ":done": {"N": str(frames_done)},
                },
            )
        except ClientError as exc:
            code = _error_code(exc)
            if code == "ValidationException":
                raise StoreError(409, "this job's progress field cannot hold per-video progress") from None
            if code != "ConditionalCheckFailedException":
                raise
            record = self.get_job(job_id)
            if record is None:
                raise StoreError(404, f"no job with id {job_id}") from None
            progress = record.get("progress")
            current = progress.get(video) if isinstance(progress, dict) else None
            if isinstance(current, dict) and current.get("frames_done") == frames_done:
                return ProgressOutcome(applied=False, previous=current, current=current)
            raise StoreError(
                409,
                f"progress for {video!r} is already at {plain_frames(current)} frames; "
                f"only forward progress is accepted (got {frames_done})",
            ) from None
        return ProgressOutcome(applied=True, previous=None, current=entry)

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
            for page in paginator.paginate(Bucket=self.results_bucket, Prefix=f"jobs/{job_id}/"):
                for obj in page.get("Contents", []):
                    objects.append({"key": obj["Key"], "size": int(obj.get("Size", 0))})
                    if len(objects) >= MAX_LISTED_OBJECTS:
                        return objects
        except ClientError as exc:
            if _error_code(exc) in ("NoSuchBucket", "AccessDenied"):
                return objects
            raise
        return objects

    def result_location(
        self, job_id: str, record: dict[str, Any], objects: list[dict[str, Any]]
    ) -> str | None:
        """Key of the job's result document (an async ``.out``) in the results bucket, or None.

        ``output_location`` may name the document itself (async route) or a prefix (Processing
        route, whose results are summary.json and frames.jsonl files instead).
        """
        keys = {o["key"] for o in objects}
        prefix = f"jobs/{job_id}/output/"
        location = split_s3_uri(record.get("output_location"))
        if location and location[0] == self.results_bucket:
            key = location[1]
            if key.endswith("/"):
                prefix = key
            elif key in keys or (not key.startswith(f"jobs/{job_id}/") and self._exists(key)):
                return key
        outputs = sorted(k for k in keys if k.startswith(prefix) and k.endswith(".out"))
        return outputs[-1] if outputs else None

    def _exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.results_bucket, Key=key)
        except ClientError:
            return False
        return True

    def open_object(self, key: str) -> Iterator[bytes]:
        """Stream an object of the results bucket; StoreError 404 when it is gone."""
        try:
            body = self.s3.get_object(Bucket=self.results_bucket, Key=key)["Body"]
        except ClientError as exc:
            if _error_code(exc) in ("NoSuchKey", "404", "NoSuchBucket"):
                raise StoreError(404, "the job's result document is not in the results bucket") from None
            raise
        return _chunks(body)

    def read_object_text(self, key: str) -> str:
        return b"".join(self.open_object(key)).decode("utf-8")

    # --- uploads ---

    def presign_upload(
        self, *, filename: str, content_type: str | None, metadata: dict[str, str]
    ) -> dict[str, Any]:
        name = safe_filename(filename, self.video_suffixes)
        suffix = "." + name.rsplit(".", 1)[-1].lower()
        content_type = content_type or VIDEO_CONTENT_TYPES.get(suffix, OCTET_STREAM)
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
            "s3_uri": f"s3://{self.input_bucket}/{key}",
            "expires_in": UPLOAD_URL_SECONDS,
        }


def plain_frames(entry: Any) -> Any:
    return entry.get("frames_done") if isinstance(entry, dict) else entry


def safe_filename(filename: str, suffixes: tuple[str, ...] = DEFAULT_VIDEO_SUFFIXES) -> str:
    """The base name with anything but letters, digits, dot, dash and underscore replaced by ``_``.

    The name must end in one of ``suffixes`` (any case); the stem is shortened to 150 characters
    and becomes ``video`` when nothing usable is left of it.
    """
    base = re.split(r"[\\/]", filename)[-1]
    stem, dot, ending = base.rpartition(".")
    if not dot or f".{ending.lower()}" not in suffixes:
        raise StoreError(400, f"filename must end in one of {', '.join(suffixes)} (got {filename!r})")
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", stem).lstrip(".")[:150] or "video"
    return f"{cleaned}.{ending}"


def _chunks(body: Any, size: int = 1 << 16) -> Iterator[bytes]:
    try:
        while chunk := body.read(size):
            yield chunk
    finally:
        body.close()


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
