"""Parse what the results handler receives into one :class:`ResultEvent`.

Accepted shapes, read defensively:
- a SageMaker async inference notification (``invocationStatus``, ``inferenceId``, ...), raw or
  wrapped in an SNS envelope (SQS subscription without raw delivery);
- an EventBridge "SageMaker Processing Job State Change" event, delivered directly or through SQS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from reelsight.contract.batch import attempt_of
from reelsight.contract.jobs import JobStatus

ASYNC = "async"
PROCESSING = "processing"
PROCESSING_DETAIL_TYPE = "SageMaker Processing Job State Change"
_ASYNC_STATUS = {"completed": JobStatus.SUCCEEDED, "failed": JobStatus.FAILED}
_PROCESSING_STATUS = {
    "InProgress": JobStatus.RUNNING,
    "Completed": JobStatus.SUCCEEDED,
    "Failed": JobStatus.FAILED,
    "Stopped": JobStatus.FAILED,
}


class MalformedMessage(ValueError):
    """Not a message this handler understands."""


@dataclass(frozen=True)
class ResultEvent:
    kind: str  # async | processing
    job_id: str
    status: JobStatus  # RUNNING | SUCCEEDED | FAILED
    source_status: str  # the status as SageMaker spelled it
    reason: str | None = None
    output_location: str | None = None
    failure_location: str | None = None
    input_location: str | None = None
    processing_job_name: str | None = None
    received_at: Any = None  # async: when the endpoint accepted the request
    started_at: Any = None  # processing: ProcessingStartTime
    finished_at: Any = None  # async: eventTime; processing: ProcessingEndTime
    attempt: int = 1  # processing: which attempt of the job (its name's --a<k> suffix)


@dataclass(frozen=True)
class Ignored:
    """A well-formed message that needs no action (another application's job, a transient state)."""

    reason: str


def _load(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, json.JSONDecodeError) as exc:
        raise MalformedMessage(f"not JSON: {exc}") from None


def parse_body(text: str) -> ResultEvent | Ignored:
    """An SQS message body (SNS envelope, raw SageMaker notification or EventBridge event)."""
    body = _load(text)
    if isinstance(body, dict) and body.get("Type") == "Notification" and isinstance(body.get("Message"), str):
        body = _load(body["Message"])
    return parse_event(body)


def parse_event(body: Any) -> ResultEvent | Ignored:
    if not isinstance(body, dict):
        raise MalformedMessage("message is not a JSON object")
    if body.get("detail-type") is not None or body.get("source") == "aws.sagemaker":
        return parse_processing_event(body)
    if "invocationStatus" in body or "inferenceId" in body:
        return parse_async_notification(body)
    raise MalformedMessage("neither a SageMaker async notification nor a Processing state change")


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _dig(value: Any, *path: str | int) -> Any:
    """``value[p0][p1]...`` or None when any step is missing or of the wrong type."""
    for step in path:
        if isinstance(step, int) and isinstance(value, list) and len(value) > step:
            value = value[step]
        elif isinstance(step, str) and isinstance(value, dict):
            value = value.get(step)
        else:
            return None
    return value


def parse_async_notification(message: dict[str, Any]) -> ResultEvent:
    job_id = _text(message.get("inferenceId"))
    raw_status = _text(message.get("invocationStatus")) or ""
    status = _ASYNC_STATUS.get(raw_status.lower())
    if not job_id:
        raise MalformedMessage("async notification without inferenceId")
    if status is None:
        raise MalformedMessage(f"async notification with unknown invocationStatus {raw_status!r}")
    return ResultEvent(
        kind=ASYNC,
        job_id=job_id,
        status=status,
        source_status=raw_status,
        reason=_text(message.get("failureReason")),
        output_location=_text(_dig(message, "responseParameters", "outputLocation")),
        failure_location=_text(_dig(message, "responseParameters", "failureLocation"))
        or _text(message.get("failureLocation")),
        input_location=_text(_dig(message, "requestParameters", "inputLocation")),
        received_at=message.get("receivedTime"),
        finished_at=message.get("eventTime"),
    )


def parse_processing_event(event: dict[str, Any]) -> ResultEvent | Ignored:
    if event.get("detail-type") != PROCESSING_DETAIL_TYPE:
        raise MalformedMessage(f"unexpected EventBridge detail-type {event.get('detail-type')!r}")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise MalformedMessage("Processing state change without detail")
    name = _text(detail.get("ProcessingJobName"))
    raw_status = _text(detail.get("ProcessingJobStatus")) or ""
    if not name:
        raise MalformedMessage("Processing state change without ProcessingJobName")
    named = attempt_of(name)
    if named is None:
        return Ignored(f"processing job {name} was not started by reelsight")
    job_id, attempt = named
    if raw_status not in _PROCESSING_STATUS:
        return Ignored(f"processing status {raw_status or '(none)'} needs no action")
    status = _PROCESSING_STATUS[raw_status]
    reason = _text(detail.get("FailureReason")) or _text(detail.get("ExitMessage"))
    if raw_status == "Stopped":
        reason = f"stopped: {reason}" if reason else "the processing job was stopped"
    output = _text(_dig(detail, "ProcessingOutputConfig", "Outputs", 0, "S3Output", "S3Uri"))
    source = _text(_dig(detail, "ProcessingInputs", 0, "S3Input", "S3Uri"))
    if _dig(detail, "ProcessingInputs", 0, "S3Input", "S3DataType") == "ManifestFile":
        source = None  # the manifest names the videos; it is none of them
    return ResultEvent(
        kind=PROCESSING,
        job_id=job_id,
        status=status,
        source_status=raw_status,
        reason=reason if status == JobStatus.FAILED else None,
        output_location=output,
        input_location=source,
        processing_job_name=name,
        attempt=attempt,
        started_at=detail.get("ProcessingStartTime"),
        finished_at=detail.get("ProcessingEndTime") or (event.get("time") if status.terminal else None),
    )
