"""The jobs table, defined once: statuses and their transitions, the timestamp format, the record
shape, and :class:`JobsTable`, the one repository the dispatcher, the results Lambda, the API, the
client and the CLI read and write it through.

Item shape (one item per job, keyed by ``job_id``; docs/lambdas.md "The jobs table"): the fields of
:class:`JobRecord`. Every writer stamps times with :func:`now_iso` (ISO 8601 UTC, milliseconds,
``Z``), so the ``status`` + ``created_at`` index (:data:`~reelsight.contract.names.STATUS_INDEX`)
sorts by time. Readers go through :meth:`JobRecord.from_item`, which also reads what older writers
left (lower-case statuses, epoch ``created_at``, maps stored as JSON text).

Standard library only: :class:`JobsTable` takes a low-level boto3 DynamoDB client object without
importing boto3, and DynamoDB's attribute-value form is (de)serialized here.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from reelsight.contract.names import STATUS_INDEX

# --- statuses ---


class JobStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"  # the upload is not a supported video; only ever created, by the dispatcher
    # Terminal: a job that failed midway and keeps the result parts it finished (the results
    # Lambda writes it when a failed job left parts).
    PARTIAL = "PARTIAL"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @classmethod
    def read(cls, value: object) -> JobStatus | None:
        """A stored status in any case, or a spelling older writers used; None when it is neither."""
        if not isinstance(value, str):
            return None
        text = value.strip()
        if text.upper() in cls.__members__:
            return cls[text.upper()]
        return LEGACY_STATUSES.get(text.lower())


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.REJECTED, JobStatus.PARTIAL})
# Which states a job may come from when it moves to a given state. Forward only; QUEUED and
# REJECTED are never moved to, only created.
ALLOWED_FROM: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset(),
    JobStatus.RUNNING: frozenset({JobStatus.QUEUED}),
    JobStatus.SUCCEEDED: frozenset({JobStatus.QUEUED, JobStatus.RUNNING}),
    JobStatus.FAILED: frozenset({JobStatus.QUEUED, JobStatus.RUNNING}),
    JobStatus.PARTIAL: frozenset({JobStatus.QUEUED, JobStatus.RUNNING}),
    JobStatus.REJECTED: frozenset(),
}
# The one way back: a resume reruns a batch or split job (and its unfinished videos) that ended
# PARTIAL or FAILED, as a new attempt that starts QUEUED again (JobsTable.resume).
RESUMABLE_FROM = frozenset({JobStatus.PARTIAL, JobStatus.FAILED})
# Statuses earlier writers stored (lower case, SageMaker-like words); read, never written.
LEGACY_STATUSES: dict[str, JobStatus] = {
    "completed": JobStatus.SUCCEEDED,
    "error": JobStatus.FAILED,
    "stopped": JobStatus.FAILED,
    "expired": JobStatus.FAILED,
}


def can_transition(current: JobStatus | None, new: JobStatus) -> bool:
    """Whether a job in ``current`` may move to ``new``; ``None`` is a job the table does not hold yet,
    which any status may create (the results Lambda keeps results for a job it never saw)."""
    return current is None or current in ALLOWED_FROM[new]


def terminal_spellings() -> list[str]:
    """Every stored spelling of a terminal status, for conditions that must skip finished jobs."""
    canonical = [status.value for status in JobStatus if status.terminal]
    legacy = [text for text, status in LEGACY_STATUSES.items() if status.terminal]
    return sorted({*canonical, *(text.lower() for text in canonical), *legacy})


# --- time: one format for every writer, one tolerant reader ---


def now_iso() -> str:
    return iso(dt.datetime.now(dt.UTC))


def iso(moment: dt.datetime) -> str:
    """``2026-01-01T00:00:00.123Z``: UTC with milliseconds, so stored times sort as text."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    utc = aware.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_time(value: Any) -> dt.datetime | None:
    """ISO 8601 text (any offset; none means UTC), epoch seconds or epoch milliseconds (EventBridge)
    -> an aware UTC datetime; None when unreadable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return _from_epoch(float(value))
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        return _from_epoch(float(text))
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(text.upper())
    except ValueError:
        return None
    return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _from_epoch(number: float) -> dt.datetime | None:
    if not math.isfinite(number) or number <= 0:
        return None
    try:
        return dt.datetime.fromtimestamp(number / 1000 if number > 1e11 else number, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None


def seconds_between(start: Any, end: Any) -> float | None:
    begin, finish = parse_time(start), parse_time(end)
    if begin is None or finish is None:
        return None
    return round(max((finish - begin).total_seconds(), 0.0), 3)


def time_text(value: Any) -> str | None:
    """A stored time in the one format; text that is no time stays as it is (shown, not lost)."""
    moment = parse_time(value)
    if moment is not None:
        return iso(moment)
    return value if isinstance(value, str) and value else None


# --- DynamoDB's attribute-value form ---


def encode_value(value: Any) -> dict[str, Any]:
    """A plain Python value as a DynamoDB attribute value. Non-finite floats become NULL; map entries
    that are None (or non-finite) are left out, as the Lambdas always wrote them."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | Decimal):
        return {"N": str(value)}
    if isinstance(value, float):
        return {"N": str(Decimal(repr(value)))}
    if isinstance(value, str):
        return {"S": str(value)}
    if isinstance(value, bytes | bytearray):
        return {"B": bytes(value)}
    if isinstance(value, Mapping):
        return {"M": {str(k): encode_value(v) for k, v in value.items() if not _absent(v)}}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return {"L": [encode_value(v) for v in items]}
    raise TypeError(f"cannot store a {type(value).__name__} in DynamoDB: {value!r}")


def _absent(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def encode_item(item: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A plain item as ``put_item`` takes it; None attributes are left out."""
    return {str(k): encode_value(v) for k, v in item.items() if not _absent(v)}


def decode_value(attribute: Mapping[str, Any]) -> Any:
    """A DynamoDB attribute value as JSON-ready Python (numbers as int or float, bytes as base64)."""
    ((kind, raw),) = attribute.items()
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise ValueError(f"unknown DynamoDB attribute type {kind!r}")
    return decoder(raw)


def decode_item(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """An item as ``get_item``/``query``/``scan`` return it -> a plain dict."""
    return {str(k): decode_value(v) for k, v in attributes.items()}


def _number(text: str) -> int | float:
    number = Decimal(text)
    return int(number) if number == number.to_integral_value() else float(number)


def _base64(raw: bytes | bytearray | str) -> str:
    data = raw.encode() if isinstance(raw, str) else bytes(raw)
    return base64.b64encode(data).decode("ascii")


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "S": str,
    "N": _number,
    "B": _base64,
    "BOOL": bool,
    "NULL": lambda _: None,
    "M": lambda raw: {str(k): decode_value(v) for k, v in raw.items()},
    "L": lambda raw: [decode_value(v) for v in raw],
    "SS": lambda raw: sorted(str(v) for v in raw),
    "NS": lambda raw: sorted(_number(v) for v in raw),
    "BS": lambda raw: sorted(_base64(v) for v in raw),
}


# --- the record ---


def history_entry(status: JobStatus, at: str, reason: str | None = None) -> dict[str, Any]:
    """One ``status_history`` entry: ``{"status", "at", "reason"?}``."""
    entry: dict[str, Any] = {"status": status.value, "at": at}
    if reason:
        entry["reason"] = reason
    return entry


@dataclass(frozen=True)
class JobRecord:
    """One item of the jobs table. ``None`` fields are not stored.

    ``extra`` keeps what this shape does not name, and any stored value that cannot be read as its
    field's type (a status no writer uses, ``params`` that are not a map), under its own name:
    :meth:`to_item` writes them back unchanged, so reading never loses an attribute.
    """

    job_id: str
    status: JobStatus | None  # None: the item's status is missing or unreadable (see extra)
    # the upload (dispatcher)
    source: str | None = None  # s3:// URI of the upload
    bucket: str | None = None
    key: str | None = None
    video: str | None = None  # the key's file name
    etag: str | None = None
    version_id: str | None = None
    uploaded_at: str | None = None
    size_bytes: int | None = None
    content_type: str | None = None
    metadata: dict[str, Any] | None = None
    # how it runs (dispatcher)
    route: str | None = None  # "async" | "processing"
    route_reason: str | None = None
    params: dict[str, Any] | None = None  # the validated metadata overrides, as strings
    options: dict[str, Any] | None = None  # the effective RunOptions.to_dict()
    ignored_metadata: list[str] | None = None
    results_prefix: str | None = None
    # the submission (dispatcher) and its results (results Lambda)
    inference_id: str | None = None
    endpoint_name: str | None = None
    processing_job_name: str | None = None
    processing_job_arn: str | None = None
    output_location: str | None = None
    failure_location: str | None = None
    # the lifecycle
    created_at: str | None = None
    updated_at: str | None = None
    submitted_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    status_history: list[dict[str, Any]] | None = None
    reason: str | None = None  # why the job failed or was rejected
    sagemaker_status: str | None = None  # SageMaker's own spelling (Completed, Failed, Stopped, ...)
    durations: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None  # the short run summary
    warnings: list[str] | None = None
    progress: dict[str, Any] | None = None  # per video: a VideoProgress entry (contract/progress.py)
    # batch and split jobs (reelsight.contract.batch); a one-video job has none of these
    kind: str | None = None  # "batch" | "split"
    parts: int | None = None  # videos (batch) or time ranges (split)
    attempt: int | None = None  # the attempt now running or last run (1, then 2... per resume)
    instance_count: int | None = None
    process_mode: str | None = None  # "infer" | "frames"
    image_format: str | None = None
    failed_parts: list[str] | None = None  # part ids that did not finish (PARTIAL, FAILED)
    skipped_keys: list[str] | None = None  # keys under a batch's prefix that are not videos
    resumed_by: str | None = None  # the job id of the request that resumed this job last
    # a batch video's own record
    batch_id: str | None = None  # the batch job it belongs to
    part_id: str | None = None  # its part (output folder) in the batch's plan
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.status is not None and self.status.terminal

    @property
    def status_text(self) -> str | None:
        """The status as stored when it is not one of :class:`JobStatus` (for display)."""
        if self.status is not None:
            return self.status.value
        raw = self.extra.get("status")
        return _text(raw)

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> JobRecord:
        """A plain item (see :func:`decode_item`) as a record. ValueError without a ``job_id``."""
        job_id = item.get("job_id")
        if not isinstance(job_id, str) or not job_id:
            raise ValueError(f"not a job record (no job_id): {sorted(item)}")
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for name, raw in item.items():
            reader = _READERS.get(name)
            value = reader(raw) if reader else None
            if value is not None:
                values[name] = value
            elif raw is not None and name != "job_id":
                extra[name] = raw
        values.setdefault("status", None)
        return cls(**values, extra=extra)

    def to_item(self) -> dict[str, Any]:
        """The plain item to store (see :func:`encode_item`); ``job_id`` first, no None values."""
        known = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        stored = {name: value for name, value in known.items() if value is not None}
        if self.status is not None:
            stored["status"] = self.status.value
        return {"job_id": self.job_id, **self.extra, **stored}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _mapping(value: Any) -> dict[str, Any] | None:
    """A map attribute, also when a writer stored it as JSON text."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return dict(value) if isinstance(value, Mapping) else None


def _texts(value: Any) -> list[str] | None:
    if not isinstance(value, list | tuple):
        return None
    return [str(v) for v in value]


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _history(value: Any) -> list[dict[str, Any]] | None:
    if not isinstance(value, list):
        return None
    entries = []
    for entry in value:
        entry = dict(entry) if isinstance(entry, Mapping) else {"status": str(entry)}
        status = JobStatus.read(entry.get("status"))
        if status is not None:
            entry["status"] = status.value
        entries.append(entry)
    return entries


def _id_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


_TIME_FIELDS = ("uploaded_at", "created_at", "updated_at", "submitted_at", "started_at", "finished_at")
_READERS_BY_NAME: dict[str, Callable[[Any], Any]] = {
    "job_id": _id_text,
    "status": JobStatus.read,
    "status_history": _history,
    **{name: time_text for name in _TIME_FIELDS},
}
# Every other field is read by its declared type (a new field of a new type fails here, at import).
_READERS_BY_TYPE: dict[str, Callable[[Any], Any]] = {
    "str | None": _text,
    "int | None": _count,
    "list[str] | None": _texts,
    "dict[str, Any] | None": _mapping,
}
_READERS: dict[str, Callable[[Any], Any]] = {
    f.name: _READERS_BY_NAME.get(f.name) or _READERS_BY_TYPE[str(f.type)]
    for f in dataclasses.fields(JobRecord)
    if f.name != "extra"
}


# --- the repository ---

CONDITION_FAILED = "ConditionalCheckFailedException"
VALIDATION_FAILED = "ValidationException"
MAX_DYNAMODB_CALLS_PER_PAGE = 20


def error_code(error: BaseException) -> str:
    """The AWS error code of a botocore ClientError (without importing botocore); "" for others."""
    response = getattr(error, "response", None)
    details = response.get("Error") if isinstance(response, dict) else None
    return str(details.get("Code", "")) if isinstance(details, dict) else ""


@dataclass(frozen=True)
class Transition:
    applied: bool
    previous_status: JobStatus | None
    job: JobRecord | None  # the item after the update when applied, else the current item


class ProgressResult(StrEnum):
    APPLIED = "applied"
    REPEATED = "repeated"  # the same frames_done is already stored (a retry)
    BACKWARD = "backward"  # a larger frames_done is stored
    FINISHED = "finished"  # the job has ended; its record no longer changes
    NO_JOB = "no_job"
    UNSUPPORTED = "unsupported"  # the item's progress attribute is not a map


@dataclass(frozen=True)
class ProgressOutcome:
    result: ProgressResult
    entry: dict[str, Any] | None  # the video's entry now stored (None when there is none)
    status: JobStatus | None = None  # the job's status, when FINISHED


@dataclass(frozen=True)
class JobPage:
    items: list[JobRecord]
    next: str | None  # an opaque token for the following page; None at the end


class InvalidPageToken(ValueError):
    def __init__(self) -> None:
        super().__init__("the 'next' token is not valid for this query; start again without it")


class JobsTable:
    """Reads and conditional writes on the jobs table, through a low-level boto3 DynamoDB client."""

    def __init__(self, client: Any, table: str) -> None:
        if not table:
            raise ValueError("the jobs table name is not configured")
        self.client = client
        self.table = table
        self._sort_key_type: str | None = None

    def _key(self, job_id: str) -> dict[str, Any]:
        return {"job_id": {"S": job_id}}

    def get(self, job_id: str) -> JobRecord | None:
        answer = self.client.get_item(TableName=self.table, Key=self._key(job_id), ConsistentRead=True)
        item = answer.get("Item")
        return JobRecord.from_item(decode_item(item)) if item else None

    def find_by_source(self, source: str) -> JobRecord | None:
        """A job of the given ``s3://`` upload, by scanning (for ids the caller cannot derive)."""
        request = {
            "TableName": self.table,
            "FilterExpression": "#source = :source",
            "ExpressionAttributeNames": {"#source": "source"},
            "ExpressionAttributeValues": {":source": {"S": source}},
        }
        for page in self.client.get_paginator("scan").paginate(**request):
            for item in page.get("Items", []):
                return JobRecord.from_item(decode_item(item))
        return None

    def create(self, record: JobRecord) -> bool:
        """Create the job, or claim an unsubmitted QUEUED one (a retried dispatch); False when the job
        already exists beyond that."""
        try:
            self.client.put_item(
                TableName=self.table,
                Item=encode_item(record.to_item()),
                ConditionExpression=(
                    "attribute_not_exists(job_id)"
                    " OR (#status = :queued AND attribute_not_exists(submitted_at))"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":queued": {"S": JobStatus.QUEUED.value}},
            )
        except Exception as error:
            if error_code(error) == CONDITION_FAILED:
                return False
            raise
        return True

    def mark_submitted(self, job_id: str, fields: Mapping[str, Any], at: str | None = None) -> None:
        """Record what the submission returned; never changes the status (results may already be in)."""
        names, assignments, values = _set_clauses({**fields, "submitted_at": at or now_iso()})
        self.client.update_item(
            TableName=self.table,
            Key=self._key(job_id),
            UpdateExpression="SET " + ", ".join(assignments),
            ConditionExpression="attribute_exists(job_id)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def transition(
        self,
        job_id: str,
        status: JobStatus,
        *,
        at: str | None = None,
        reason: str | None = None,
        fields: Mapping[str, Any] | None = None,
        must_exist: bool = False,
    ) -> Transition:
        """Move a job to ``status`` unless it is already there or further along (then nothing changes),
        appending to ``status_history``. A job missing from the table is created, unless
        ``must_exist`` (then nothing is written and the transition is not applied)."""
        allowed = sorted(ALLOWED_FROM[status])
        if not allowed:
            raise ValueError(f"no job moves to {status}; it is only created")
        moment = at or now_iso()
        updates: dict[str, Any] = {**(fields or {}), "updated_at": now_iso(), "reason": reason or None}
        if status.terminal:
            updates.setdefault("finished_at", moment)
        names, assignments, values = _set_clauses(updates)
        names.update({"#status": "status", "#created": "created_at", "#history": "status_history"})
        values.update(
            {
                ":status": {"S": status.value},
                ":at": {"S": moment},
                ":entry": {"L": [encode_value(history_entry(status, moment, reason))]},
                ":empty": {"L": []},
                **{f":from{i}": {"S": previous.value} for i, previous in enumerate(allowed)},
            }
        )
        assignments += [
            "#status = :status",
            "#created = if_not_exists(#created, :at)",
            "#history = list_append(if_not_exists(#history, :empty), :entry)",
        ]
        predecessors = ", ".join(f":from{i}" for i in range(len(allowed)))
        try:
            answer = self.client.update_item(
                TableName=self.table,
                Key=self._key(job_id),
                UpdateExpression="SET " + ", ".join(assignments),
                ConditionExpression=(
                    f"attribute_exists(job_id) AND #status IN ({predecessors})"
                    if must_exist
                    else f"attribute_not_exists(job_id) OR #status IN ({predecessors})"
                ),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except Exception as error:
            if error_code(error) != CONDITION_FAILED:
                raise
            current = self.get(job_id)
            return Transition(False, current.status if current else None, current)
        job = JobRecord.from_item(decode_item(answer.get("Attributes", {})))
        history = job.status_history or []
        before = JobStatus.read(history[-2].get("status")) if len(history) >= 2 else None
        return Transition(True, before, job)

    def resume(
        self,
        job_id: str,
        *,
        attempt: int,
        reason: str,
        fields: Mapping[str, Any] | None = None,
        statuses: Iterable[JobStatus] = RESUMABLE_FROM,
    ) -> bool:
        """Move a PARTIAL or FAILED job (any of ``statuses``, a subset of those) back to QUEUED as
        ``attempt``, with a history entry; its end (finished_at, reason, failed parts, the
        submission) is cleared. False when the job is in no such state or already at that attempt."""
        allowed = sorted(set(statuses) & RESUMABLE_FROM)
        if not allowed:
            raise ValueError("only a PARTIAL or FAILED job is resumed")
        moment = now_iso()
        names, assignments, values = _set_clauses(
            {**(fields or {}), "updated_at": moment, "attempt": attempt}
        )
        names.update({"#status": "status", "#history": "status_history", "#attempt": "attempt"})
        values.update(
            {
                ":queued": {"S": JobStatus.QUEUED.value},
                ":entry": {"L": [encode_value(history_entry(JobStatus.QUEUED, moment, reason))]},
                ":empty": {"L": []},
                ":new": {"N": str(attempt)},
                **{f":from{i}": {"S": status.value} for i, status in enumerate(allowed)},
            }
        )
        assignments += [
            "#status = :queued",
            "#history = list_append(if_not_exists(#history, :empty), :entry)",
        ]
        cleared = ("finished_at", "reason", "failed_parts", "sagemaker_status", "submitted_at")
        names.update({f"#c{i}": name for i, name in enumerate(cleared)})
        predecessors = ", ".join(f":from{i}" for i in range(len(allowed)))
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._key(job_id),
                UpdateExpression="SET "
                + ", ".join(assignments)
                + " REMOVE "
                + ", ".join(f"#c{i}" for i in range(len(cleared))),
                ConditionExpression=(
                    f"attribute_exists(job_id) AND #status IN ({predecessors})"
                    " AND (attribute_not_exists(#attempt) OR #attempt < :new)"
                ),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except Exception as error:
            if error_code(error) == CONDITION_FAILED:
                return False
            raise
        return True

    # --- progress (the API, for Processing jobs) ---

    def record_progress(
        self,
        job_id: str,
        video: str,
        frames_done: int,
        frames_total: int | None = None,
        *,
        entry: Mapping[str, Any] | None = None,
    ) -> ProgressOutcome:
        """Store one video's progress if it moves forward (by ``frames_done``) and the job has not
        ended; a write that would go backwards, or repeats what is stored, changes nothing.

        ``entry`` is the full entry to store (:meth:`reelsight.contract.progress.VideoProgress.to_json`);
        its ``frames_done`` and ``frames_total`` are the arguments', and ``updated_at`` is stamped now.
        Errors other than a refused condition (the table cannot be reached, throttling) raise: the
        API answers 502 and the worker's reporters, which are best effort, carry on.
        """
        stored: dict[str, Any] = {**(entry or {}), "frames_done": frames_done, "updated_at": now_iso()}
        stored.pop("frames_total", None)
        if frames_total is not None:
            stored["frames_total"] = frames_total
        names, values = self._unfinished_names_values()
        unfinished = "attribute_exists(job_id) AND NOT (#status IN (" + ", ".join(sorted(values)) + "))"
        self._ensure_progress_map(job_id, unfinished, names, values)
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._key(job_id),
                UpdateExpression="SET progress.#video = :entry",
                ConditionExpression=(
                    f"{unfinished} AND "
                    "(attribute_not_exists(progress.#video) OR progress.#video.frames_done < :done)"
                ),
                ExpressionAttributeNames={**names, "#video": video},
                ExpressionAttributeValues={
                    **values,
                    ":entry": encode_value(stored),
                    ":done": {"N": str(frames_done)},
                },
            )
        except Exception as error:
            code = error_code(error)
            if code == VALIDATION_FAILED:
                return ProgressOutcome(ProgressResult.UNSUPPORTED, None)
            if code != CONDITION_FAILED:
                raise
            return self._refused_progress(job_id, video, frames_done)
        return ProgressOutcome(ProgressResult.APPLIED, stored)

    @staticmethod
    def _unfinished_names_values() -> tuple[dict[str, str], dict[str, Any]]:
        values = {f":end{i}": {"S": text} for i, text in enumerate(terminal_spellings())}
        return {"#status": "status"}, values

    def _ensure_progress_map(
        self, job_id: str, unfinished: str, names: dict[str, str], values: dict[str, Any]
    ) -> None:
        """Create the empty progress map the per-video entries go into; a no-op when it exists."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._key(job_id),
                UpdateExpression="SET progress = :empty",
                ConditionExpression=f"{unfinished} AND attribute_not_exists(progress)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={**values, ":empty": {"M": {}}},
            )
        except Exception as error:
            if error_code(error) != CONDITION_FAILED:
                raise

    def _refused_progress(self, job_id: str, video: str, frames_done: int) -> ProgressOutcome:
        record = self.get(job_id)
        if record is None:
            return ProgressOutcome(ProgressResult.NO_JOB, None)
        stored = (record.progress or {}).get(video)
        current = stored if isinstance(stored, dict) else None
        if current is not None and current.get("frames_done") == frames_done:
            return ProgressOutcome(ProgressResult.REPEATED, current)
        if record.terminal:
            return ProgressOutcome(ProgressResult.FINISHED, current, record.status)
        return ProgressOutcome(ProgressResult.BACKWARD, current)

    # --- listing ---

    def list_page(
        self,
        *,
        status: JobStatus | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 20,
        next_token: str | None = None,
    ) -> JobPage:
        """Up to ``limit`` jobs created in [since, until]: of one status newest first (the status
        index), else in table order (a scan). InvalidPageToken for a token of another query."""
        mode = "index" if status else "scan"
        start_key = decode_page_token(next_token, mode, status) if next_token else None
        request = self._list_request(status, since, until)
        call = self.client.query if status else self.client.scan
        window = _Window(since, until)
        return self._read_page(call, request, mode, start_key, window=window, limit=limit)

    def _created_at_type(self) -> str:
        """The status index's sort key type ("S" for ISO strings, "N" for an old epoch-seconds table)."""
        if self._sort_key_type is None:
            table = self.client.describe_table(TableName=self.table)["Table"]
            types = {a["AttributeName"]: a["AttributeType"] for a in table.get("AttributeDefinitions", [])}
            self._sort_key_type = str(types.get("created_at", "S"))
        return self._sort_key_type

    def _bound(self, when: dt.datetime, upper: bool) -> dict[str, str]:
        if self._created_at_type() == "N":
            return {"N": str(int(when.timestamp()) + (1 if upper else 0))}
        # Stored strings may end in "Z", "+00:00" or fractions; compare on the seconds prefix and
        # let the exact check in Python decide.
        prefix = when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return {"S": prefix + "~" if upper else prefix}

    def _list_request(
        self, status: JobStatus | None, since: dt.datetime | None, until: dt.datetime | None
    ) -> dict[str, Any]:
        request: dict[str, Any] = {"TableName": self.table}
        values: dict[str, Any] = {}
        if since:
            values[":since"] = self._bound(since, upper=False)
        if until:
            values[":until"] = self._bound(until, upper=True)
        condition = _created_at_condition(since, until)
        conditions = [condition] if condition else []
        if status:
            values[":status"] = {"S": status.value}
            request.update(
                IndexName=STATUS_INDEX,
                KeyConditionExpression=" AND ".join(["#status = :status", *conditions]),
                ExpressionAttributeNames={"#status": "status"},
                ScanIndexForward=False,  # newest first
            )
        elif conditions:
            request["FilterExpression"] = " AND ".join(conditions)
        if values:
            request["ExpressionAttributeValues"] = values
        return request

    def _read_page(
        self,
        call: Any,
        request: dict[str, Any],
        mode: str,
        start_key: dict[str, Any] | None,
        *,
        window: _Window,
        limit: int,
    ) -> JobPage:
        """Up to ``limit`` jobs in the window, over as many DynamoDB pages as that takes (bounded)."""
        items: list[JobRecord] = []
        last_key: dict[str, Any] | None = start_key
        for _ in range(MAX_DYNAMODB_CALLS_PER_PAGE):
            if last_key:
                request["ExclusiveStartKey"] = last_key
            answer = call(**request, Limit=limit)
            page_key = answer.get("LastEvaluatedKey")
            for raw in answer.get("Items", []):
                last_key = _page_key(raw, mode)
                record = JobRecord.from_item(decode_item(raw))
                if not window.holds(record):
                    continue
                items.append(record)
                if len(items) == limit:
                    # Stopped inside (or at the end of) a DynamoDB page: resume after this item.
                    more = page_key is not None or raw is not answer["Items"][-1]
                    return JobPage(items, encode_page_token(mode, last_key) if more else None)
            if page_key is None:
                return JobPage(items, None)
            last_key = page_key
        return JobPage(items, encode_page_token(mode, last_key) if last_key else None)


def _set_clauses(values: Mapping[str, Any]) -> tuple[dict[str, str], list[str], dict[str, Any]]:
    names: dict[str, str] = {}
    assignments: list[str] = []
    attribute_values: dict[str, Any] = {}
    for i, (name, value) in enumerate((k, v) for k, v in values.items() if not _absent(v)):
        names[f"#f{i}"] = name
        attribute_values[f":v{i}"] = encode_value(value)
        assignments.append(f"#f{i} = :v{i}")
    return names, assignments, attribute_values


def _created_at_condition(since: dt.datetime | None, until: dt.datetime | None) -> str | None:
    if since and until:  # a key condition allows one comparison on the sort key
        return "created_at BETWEEN :since AND :until"
    if since:
        return "created_at >= :since"
    if until:
        return "created_at <= :until"
    return None


@dataclass(frozen=True)
class _Window:
    since: dt.datetime | None
    until: dt.datetime | None

    def holds(self, record: JobRecord) -> bool:
        if not self.since and not self.until:
            return True
        created = parse_time(record.created_at)
        if created is None:
            return False
        return (self.since is None or created >= self.since) and (self.until is None or created <= self.until)


def _page_key(raw: Mapping[str, Any], mode: str) -> dict[str, Any]:
    names: Iterable[str] = ("job_id", "status", "created_at") if mode == "index" else ("job_id",)
    return {name: raw[name] for name in names if name in raw}


# --- page tokens: opaque to callers, validated strictly ---


def encode_page_token(mode: str, key: Mapping[str, Any]) -> str:
    raw = json.dumps({"m": mode, "k": key}, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_page_token(token: str, mode: str, status: str | None) -> dict[str, Any]:
    """The DynamoDB start key in a token from :func:`encode_page_token` for the same query."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error):
        raise InvalidPageToken() from None
    if not isinstance(data, dict) or data.get("m") != mode or not isinstance(data.get("k"), dict):
        raise InvalidPageToken()
    key: dict[str, Any] = data["k"]
    expected = {"job_id", "status", "created_at"} if mode == "index" else {"job_id"}
    if set(key) != expected or not all(_is_key_value(value) for value in key.values()):
        raise InvalidPageToken()
    if mode == "index" and key["status"] != {"S": status}:
        raise InvalidPageToken()
    return key


def _is_key_value(value: Any) -> bool:
    if not (isinstance(value, dict) and len(value) == 1):
        return False
    ((kind, text),) = value.items()
    return kind in ("S", "N") and isinstance(text, str) and 0 < len(text) <= 1024
