"""Fault injection for the local stack's soak (``reelsight.local.soak``); off unless asked for.

``DuplicateDeliveries`` runs inside an event-source runner: of the messages that moto delivered to
the runner's queue, it sends a copy of a fixed fraction back to that queue, as S3 and SNS may
deliver a notification more than once. Exactly that fraction of the messages it sees for the
first time is copied (every tenth, for 0.1), no copy or redelivery is copied again, and each
copy is recorded in the faults file, one JSON line per fault, where the soak also records the
processes it kills.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

from reelsight import envvars


def record_fault(path: str | Path, fault: str, **details: Any) -> None:
    """Append one fault to the faults file (single short lines: safe from several processes)."""
    line = json.dumps({"fault": fault, "at": time.time(), **details}) + "\n"
    with open(path, "a", encoding="utf-8") as out:
        out.write(line)


def read_faults(path: str | Path) -> list[dict[str, Any]]:
    file = Path(path)
    if not file.is_file():
        return []
    return [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]


class DuplicateDeliveries:
    def __init__(self, fraction: float, faults_file: str | Path) -> None:
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"{envvars.LOCAL_DUPLICATE_FRACTION} must be between 0 and 1, got {fraction}")
        self.fraction = fraction
        self.faults_file = Path(faults_file)
        self._seen: set[str] = set()  # bodies seen: a copy, or a redelivery, is not copied again
        self._lock = threading.Lock()  # one runner polls several queues from several threads

    @classmethod
    def from_env(cls) -> DuplicateDeliveries | None:
        raw = os.environ.get(envvars.LOCAL_DUPLICATE_FRACTION, "").strip()
        faults_file = os.environ.get(envvars.LOCAL_FAULTS_FILE, "").strip()
        if not raw or not faults_file:
            return None
        try:
            fraction = float(raw)
        except ValueError:
            raise ValueError(f"{envvars.LOCAL_DUPLICATE_FRACTION} must be a number, got {raw!r}") from None
        return cls(fraction, faults_file)

    def _choose(self, body: str) -> bool:
        """True for the messages that bring the share of copies up to the fraction (of new bodies)."""
        digest = hashlib.sha256(body.encode()).hexdigest()
        with self._lock:
            if digest in self._seen:
                return False
            before = len(self._seen)
            self._seen.add(digest)
            return math.floor((before + 1) * self.fraction) > math.floor(before * self.fraction)

    def apply(self, sqs: Any, queue_url: str, messages: list[dict[str, Any]]) -> int:
        """Send a copy of the chosen ``messages`` back to ``queue_url``; returns how many."""
        copied = 0
        for message in messages:
            body = str(message.get("Body", ""))
            if not self._choose(body):
                continue
            attributes = {
                name: {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
                for name, value in (message.get("MessageAttributes") or {}).items()
            }
            request: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": body}
            if attributes:
                request["MessageAttributes"] = attributes
            copy_id = sqs.send_message(**request)["MessageId"]
            record_fault(
                self.faults_file,
                "duplicate",
                queue=queue_url,
                message_id=message["MessageId"],
                copy_id=copy_id,
            )
            copied += 1
        return copied
