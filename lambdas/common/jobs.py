"""The jobs table: one item per job, keyed by ``job_id``; status only ever moves forward.

Item shape (documented in docs/lambdas.md): ``job_id``, ``source``, ``bucket``, ``key``, ``video``,
``route``, ``status``, ``reason``, ``inference_id`` or ``processing_job_name``, ``output_location``,
``failure_location``, ``params``, ``created_at``, ``updated_at``, ``submitted_at``, ``finished_at``,
``status_history``, ``durations``, ``summary``. Timestamps are ISO 8601 UTC strings, so the
``status`` + ``created_at`` index sorts by time.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

QUEUED = "QUEUED"
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED)
TERMINAL = frozenset({SUCCEEDED, FAILED})
# Which states a job may come from when it moves to a given state.
ALLOWED_FROM: dict[str, tuple[str, ...]] = {
    RUNNING: (QUEUED,),
    SUCCEEDED: (QUEUED, RUNNING),
    FAILED: (QUEUED, RUNNING),
}
STATUS_INDEX = "by_status"

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def now_iso() -> str:
    return iso(dt.datetime.now(dt.UTC))


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(value: Any) -> dt.datetime | None:
    """ISO 8601 strings, epoch seconds or epoch milliseconds (EventBridge) -> aware datetime, else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        number = float(value)
        if not math.isfinite(number) or number <= 0:
            return None
        return dt.datetime.fromtimestamp(number / 1000 if number > 1e11 else number, dt.UTC)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            return parse_time(float(text))
        except ValueError:
            pass
        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return None


def seconds_between(start: Any, end: Any) -> float | None:
    begin, finish = parse_time(start), parse_time(end)
    if begin is None or finish is None:
        return None
    return round(max((finish - begin).total_seconds(), 0.0), 3)


def to_attribute(value: Any) -> dict[str, Any]:
    return _serializer.serialize(_to_dynamo(value))


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value)) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item (attribute-value form) -> plain Python (Decimal -> int or float)."""
    return {k: _from_dynamo(_deserializer.deserialize(v)) for k, v in item.items()}


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    if isinstance(value, set):
        return sorted(_from_dynamo(v) for v in value)
    return value


def history_entry(status: str, at: str, reason: str | None = None) -> dict[str, Any]:
    entry = {"status": status, "at": at}
    if reason:
        entry["reason"] = reason
    return entry


@dataclass(frozen=True)
class Transition:
    applied: bool
    previous_status: str | None
    job: dict[str, Any] | None  # the item after the update when applied, else the current item


def _is_conditional_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class JobStore:
    """Reads and conditional writes on the jobs table (low-level DynamoDB client)."""

    def __init__(self, client: Any, table: str) -> None:
        if not table:
            raise ValueError("the jobs table name is not configured")
        self.client = client
        self.table = table

    def get(self, job_id: str) -> dict[str, Any] | None:
        response = self.client.get_item(
            TableName=self.table, Key={"job_id": {"S": job_id}}, ConsistentRead=True
        )
        item = response.get("Item")
        return from_item(item) if item else None

    def create(self, record: dict[str, Any]) -> bool:
        """Write a new job record. False when the job already exists beyond an unsubmitted QUEUED record."""
        item = {k: to_attribute(v) for k, v in record.items() if v is not None}
        try:
            self.client.put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression=(
                    "attribute_not_exists(job_id)"
                    " OR (#status = :queued AND attribute_not_exists(submitted_at))"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":queued": {"S": QUEUED}},
            )
        except ClientError as error:
            if _is_conditional_failure(error):
                return False
            raise
        return True

    def mark_submitted(self, job_id: str, fields: dict[str, Any], at: str | None = None) -> None:
        """Record what the submission returned; never changes the status (results may already be in)."""
        values = {**fields, "submitted_at": at or now_iso()}
        names, assignments, attr_values = _set_clauses(values)
        self.client.update_item(
            TableName=self.table,
            Key={"job_id": {"S": job_id}},
            UpdateExpression="SET " + ", ".join(assignments),
            ConditionExpression="attribute_exists(job_id)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=attr_values,
        )

    def transition(
        self,
        job_id: str,
        status: str,
        *,
        at: str | None = None,
        reason: str | None = None,
        fields: dict[str, Any] | None = None,
    ) -> Transition:
        """Move a job to ``status`` unless it is already there or further along (then nothing changes).

        A job missing from the table is created (results for a job this table never saw are kept).
        """
        if status not in ALLOWED_FROM:
            raise ValueError(f"cannot transition to {status!r}")
        moment = at or now_iso()
        values: dict[str, Any] = {**(fields or {}), "updated_at": now_iso()}
        if reason:
            values["reason"] = reason
        if status in TERMINAL:
            values.setdefault("finished_at", moment)
        names, assignments, attr_values = _set_clauses(values)
        names["#status"] = "status"
        names["#created"] = "created_at"
        names["#history"] = "status_history"
        attr_values[":status"] = {"S": status}
        attr_values[":at"] = {"S": moment}
        attr_values[":entry"] = {"L": [to_attribute(history_entry(status, moment, reason))]}
        attr_values[":empty"] = {"L": []}
        allowed = ALLOWED_FROM[status]
        for i, previous in enumerate(allowed):
            attr_values[f":from{i}"] = {"S": previous}
        assignments += [
            "#status = :status",
            "#created = if_not_exists(#created, :at)",
            "#history = list_append(if_not_exists(#history, :empty), :entry)",
        ]
        condition = (
            "attribute_not_exists(job_id) OR #status IN ("
            + ", ".join(f":from{i}" for i in range(len(allowed)))
            + ")"
        )
        try:
            response = self.client.update_item(
                TableName=self.table,
                Key={"job_id": {"S": job_id}},
                UpdateExpression="SET " + ", ".join(assignments),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=attr_values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if not _is_conditional_failure(error):
                raise
            current = self.get(job_id)
            return Transition(False, current.get("status") if current else None, current)
        job = from_item(response.get("Attributes", {}))
        history = job.get("status_history") or []
        before = history[-2]["status"] if len(history) >= 2 else None
        return Transition(True, before, job)


def _set_clauses(values: dict[str, Any]) -> tuple[dict[str, str], list[str], dict[str, Any]]:
    names: dict[str, str] = {}
    assignments: list[str] = []
    attr_values: dict[str, Any] = {}
    for i, (name, value) in enumerate(v for v in values.items() if v[1] is not None):
        names[f"#f{i}"] = name
        attr_values[f":v{i}"] = to_attribute(value)
        assignments.append(f"#f{i} = :v{i}")
    return names, assignments, attr_values
