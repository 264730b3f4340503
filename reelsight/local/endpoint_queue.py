"""The local async endpoint's request queue, kept in SQLite so that it survives a crash.

A request moves ``queued`` -> ``claimed`` (its input is being read) -> ``invoking`` (sent to the
model container) -> ``answered`` (its outcome is stored) -> ``done`` (the outcome is written to S3
and published). Every step is committed before the next begins, so after a crash (SIGKILL
included) :meth:`RequestQueue.recover` knows what each unfinished request needs:

- ``claimed``: nothing reached the model yet, so it is queued again;
- ``invoking``: the model may have run it; it is failed with a reason, never sent twice;
- ``answered``: its stored outcome is delivered (again: S3 writes are idempotent and the
  notification's consumers accept a repeated one, as SNS delivers at least once).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

QUEUED, CLAIMED, INVOKING, ANSWERED, DONE = "queued", "claimed", "invoking", "answered", "done"
COMPLETED, FAILED = "Completed", "Failed"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL UNIQUE,
    inference_id TEXT NOT NULL,
    input_location TEXT,
    state TEXT NOT NULL,
    enqueued_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    record TEXT NOT NULL,
    body BLOB,
    outcome_status TEXT,
    outcome_content_type TEXT,
    outcome_body BLOB,
    outcome_reason TEXT,
    expired INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS requests_by_state ON requests (state, seq);
"""


@dataclass(frozen=True)
class Outcome:
    """How a request ended: ``Completed`` with the model's answer, or ``Failed`` with a reason."""

    status: str
    content_type: str = "application/json"
    body: bytes | None = None
    reason: str | None = None
    expired: bool = False


@dataclass(frozen=True)
class QueuedRequest:
    request_id: str
    record: dict[str, Any]  # the request's fields, as the endpoint stored them
    body: bytes | None
    enqueued_at: float
    state: str
    attempts: int
    outcome: Outcome | None


@dataclass(frozen=True)
class Recovery:
    """What a restart found: requests queued again, failed because they were running, to deliver."""

    requeued: list[str]
    interrupted: list[QueuedRequest]
    undelivered: list[QueuedRequest]


class RequestQueue:
    """A FIFO of requests in one SQLite file (``:memory:`` for a queue that need not last)."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by the endpoint's threads, serialised by the lock.
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")  # a committed step survives a process kill
            self._conn.executescript(_SCHEMA)
            self._columns = [c[1] for c in self._conn.execute("PRAGMA table_info(requests)")]

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def put(self, request_id: str, record: dict[str, Any], body: bytes | None, enqueued_at: float) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO requests (request_id, inference_id, input_location, state, enqueued_at,"
                " updated_at, record, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    request_id,
                    str(record.get("inference_id")),
                    record.get("input_location"),
                    QUEUED,
                    enqueued_at,
                    time.time(),
                    json.dumps(record),
                    body,
                ),
            )

    def claim(self) -> QueuedRequest | None:
        """The oldest queued request, now ``claimed``; None when nothing waits."""
        with self._tx() as db:
            row = db.execute(
                "SELECT * FROM requests WHERE state = ? ORDER BY seq LIMIT 1", (QUEUED,)
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE requests SET state = ?, updated_at = ? WHERE seq = ?", (CLAIMED, time.time(), row[0])
            )
        return _item(self._columns, row, state=CLAIMED)

    def invoking(self, request_id: str) -> None:
        """About to send the request to the model: from here on it is never sent again."""
        with self._tx() as db:
            db.execute(
                "UPDATE requests SET state = ?, attempts = attempts + 1, updated_at = ? WHERE request_id = ?",
                (INVOKING, time.time(), request_id),
            )

    def answered(self, request_id: str, outcome: Outcome) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE requests SET state = ?, outcome_status = ?, outcome_content_type = ?,"
                " outcome_body = ?, outcome_reason = ?, expired = ?, updated_at = ? WHERE request_id = ?",
                (
                    ANSWERED,
                    outcome.status,
                    outcome.content_type,
                    outcome.body,
                    outcome.reason,
                    int(outcome.expired),
                    time.time(),
                    request_id,
                ),
            )

    def done(self, request_id: str) -> None:
        """Delivered: the inputs are dropped, the outcome's summary is kept for the counts."""
        with self._tx() as db:
            db.execute(
                "UPDATE requests SET state = ?, body = NULL, outcome_body = NULL, updated_at = ?"
                " WHERE request_id = ?",
                (DONE, time.time(), request_id),
            )

    def recover(self, reason: str) -> Recovery:
        """Settle what a crash left: claimed requests are queued again, invoking ones get a Failed
        outcome with ``reason``; returns those, and every answered request still to deliver."""
        with self._tx() as db:
            found = {
                state: [
                    _item(self._columns, row)
                    for row in db.execute("SELECT * FROM requests WHERE state = ? ORDER BY seq", (state,))
                ]
                for state in (CLAIMED, INVOKING, ANSWERED)
            }
            db.execute("UPDATE requests SET state = ? WHERE state = ?", (QUEUED, CLAIMED))
            db.execute(
                "UPDATE requests SET state = ?, outcome_status = ?, outcome_content_type = ?,"
                " outcome_reason = ?, updated_at = ? WHERE state = ?",
                (ANSWERED, FAILED, "text/plain", reason, time.time(), INVOKING),
            )
        failed = Outcome(status=FAILED, content_type="text/plain", reason=reason)
        interrupted = [replace(item, state=ANSWERED, outcome=failed) for item in found[INVOKING]]
        return Recovery([item.request_id for item in found[CLAIMED]], interrupted, found[ANSWERED])

    def counts(self) -> dict[str, Any]:
        """Durable counts: by state, outcomes, expiries, and invocations per input (or inference id)."""
        with self._lock:
            by_state = dict(
                self._conn.execute("SELECT state, COUNT(*) FROM requests GROUP BY state").fetchall()
            )
            by_outcome = dict(
                self._conn.execute(
                    "SELECT outcome_status, COUNT(*) FROM requests WHERE state = ? GROUP BY outcome_status",
                    (DONE,),
                ).fetchall()
            )
            expired, received, invocations = self._conn.execute(
                "SELECT COALESCE(SUM(expired), 0), COUNT(*), COALESCE(SUM(attempts), 0) FROM requests"
            ).fetchone()
            by_input = dict(
                self._conn.execute(
                    "SELECT COALESCE(input_location, inference_id), SUM(attempts) FROM requests"
                    " WHERE attempts > 0 GROUP BY COALESCE(input_location, inference_id)"
                ).fetchall()
            )
        return {
            "received": int(received),
            "invocations": int(invocations),
            "completed": int(by_outcome.get(COMPLETED, 0)),
            "failed": int(by_outcome.get(FAILED, 0)),
            "expired": int(expired),
            "backlog": int(by_state.get(QUEUED, 0)),
            "states": {str(k): int(v) for k, v in by_state.items()},
            "invocations_by_input": {str(k): int(v) for k, v in by_input.items()},
        }


def _item(columns: list[str], row: tuple[Any, ...], state: str | None = None) -> QueuedRequest:
    data = dict(zip(columns, row, strict=True))
    outcome = None
    if data["outcome_status"]:
        outcome = Outcome(
            status=data["outcome_status"],
            content_type=data["outcome_content_type"] or "application/json",
            body=data["outcome_body"],
            reason=data["outcome_reason"],
            expired=bool(data["expired"]),
        )
    return QueuedRequest(
        request_id=data["request_id"],
        record=json.loads(data["record"]),
        body=data["body"],
        enqueued_at=float(data["enqueued_at"]),
        state=state or data["state"],
        attempts=int(data["attempts"]),
        outcome=outcome,
    )
