"""User notifications on the results topic: JSON body, readable ASCII subject, filterable attributes."""

from __future__ import annotations

import json
from typing import Any

SUBJECT_LIMIT = 100


def subject_for(status: str, video: str, job_id: str) -> str:
    """SNS subjects must be ASCII without control characters and at most 100 characters."""
    name = video.encode("ascii", "replace").decode("ascii")
    name = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in name)
    tail = f" (job {job_id[:12]})"
    head = f"reelsight {status}: "
    room = SUBJECT_LIMIT - len(head) - len(tail)
    if len(name) > room:
        name = name[: max(room - 3, 0)] + "..."
    return f"{head}{name}{tail}"


def notification(job: dict[str, Any], *, summary: dict[str, Any] | None = None) -> dict[str, Any]:
    """The message body: what a user needs to find the results (or the reason of a failure)."""
    links = {
        key: job[key]
        for key in ("source", "output_location", "failure_location", "results_prefix")
        if job.get(key)
    }
    body: dict[str, Any] = {
        "job_id": job["job_id"],
        "status": job.get("status"),
        "video": job.get("video"),
        "source": job.get("source"),
        "route": job.get("route"),
        "links": links,
    }
    for key in ("reason", "durations", "created_at", "finished_at", "params"):
        if job.get(key):
            body[key] = job[key]
    if summary:
        body["summary"] = summary
    return body


def publish(
    sns: Any, topic_arn: str, job: dict[str, Any], *, summary: dict[str, Any] | None = None
) -> str | None:
    """Publish the job's notification; returns the message id, or None when no topic is configured."""
    if not topic_arn:
        return None
    status = str(job.get("status") or "UNKNOWN")
    response = sns.publish(
        TopicArn=topic_arn,
        Subject=subject_for(status, str(job.get("video") or job.get("source") or "video"), job["job_id"]),
        Message=json.dumps(notification(job, summary=summary), default=str, ensure_ascii=False),
        MessageAttributes={
            "status": {"DataType": "String", "StringValue": status},
            "job_id": {"DataType": "String", "StringValue": job["job_id"]},
        },
    )
    return str(response.get("MessageId", ""))
