"""A running async job, visible while it runs: its status, its progress, its frames in parts.

:class:`TableProgress` writes :class:`~reelsight.contract.progress.VideoProgress` entries to the jobs
table through :class:`~reelsight.contract.jobs.JobsTable` (RUNNING first, then at most one entry
every ``min_interval`` seconds plus the final one) from a background thread: a table that cannot be
reached is logged and never fails or slows the job.

:class:`PartUploader` uploads the frames written so far as ordered parts (``names.part_key``):
each part is the bytes frames.jsonl grew by since the previous part, whole lines only, so the
parts concatenated equal frames.jsonl.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from reelsight import envvars
from reelsight.contract.jobs import JobsTable, JobStatus, now_iso
from reelsight.contract.names import JOBS_PREFIX, part_key
from reelsight.contract.progress import VideoProgress
from reelsight.contract.settings import env_int, env_seconds
from reelsight.worker.progress import BackgroundSender

log = logging.getLogger("reelsight.worker.live")

DEFAULT_PROGRESS_INTERVAL = 2.0
DEFAULT_PART_FRAMES = 100
DEFAULT_PART_SECONDS = 30.0
Clock = Callable[[], float]


class TableProgress(BackgroundSender):
    """Best-effort progress of one job's video in the jobs table; ``writes`` counts the updates sent."""

    def __init__(
        self,
        jobs: JobsTable,
        job_id: str,
        video: str,
        *,
        min_interval: float = DEFAULT_PROGRESS_INTERVAL,
        clock: Clock = time.monotonic,
    ) -> None:
        self.jobs = jobs
        self.job_id = job_id
        self.video = video
        self.writes = 0
        self.failures = 0
        super().__init__(name=f"progress-{job_id}", min_interval=min_interval, maxsize=16, clock=clock)

    def start(self) -> None:
        """Queue the move to RUNNING (only for a job the table holds, in QUEUED)."""
        self._enqueue(("running", None))

    def update(self, progress: VideoProgress, *, final: bool = False) -> bool:
        """Queue an entry unless one went out less than ``min_interval`` ago (the final one always
        goes). True when queued."""
        return self._due(self.video, final) and self._enqueue(("progress", progress))

    def _deliver(self, item: Any) -> None:
        kind, progress = item
        try:
            self._write(kind, progress)
        except Exception as exc:  # best effort: the job goes on without its progress
            self.failures += 1
            log.warning("progress of job %s not recorded: %s", self.job_id, exc)

    def _write(self, kind: str, progress: VideoProgress | None) -> None:
        if kind == "running":
            self.jobs.transition(
                self.job_id, JobStatus.RUNNING, fields={"started_at": now_iso()}, must_exist=True
            )
        elif progress is not None:
            entry = progress.to_json()
            self.jobs.record_progress(
                self.job_id, self.video, progress.frames_done, progress.frames_total, entry=entry
            )
        self.writes += 1


@dataclass(frozen=True)
class PartPolicy:
    every_frames: int = DEFAULT_PART_FRAMES
    every_seconds: float = DEFAULT_PART_SECONDS

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> PartPolicy:
        """``REELSIGHT_PART_FRAMES`` and ``REELSIGHT_PART_SECONDS``, for the async worker and Processing."""
        return cls(
            every_frames=env_int(
                environ, envvars.PART_FRAMES, default=DEFAULT_PART_FRAMES, low=1, high=1 << 30
            ),
            every_seconds=env_seconds(environ, envvars.PART_SECONDS, default=DEFAULT_PART_SECONDS),
        )


class PartUploader:
    """Uploads the growth of ``frames_path`` as parts ``part_key(job_id, 1..)`` to ``bucket``.

    A part that cannot be uploaded is logged; its frames go into the next part, so the parts stay
    complete and in order.
    """

    def __init__(
        self,
        s3: Any,
        bucket: str,
        job_id: str,
        frames_path: Path,
        *,
        policy: PartPolicy = PartPolicy(),
        root: str = JOBS_PREFIX,
        clock: Clock = time.monotonic,
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.job_id = job_id
        self.frames_path = frames_path
        self.policy = policy
        self.root = root
        self.clock = clock
        self.parts = 0
        self.frames_in_parts = 0
        self._offset = 0
        self._since = clock()

    def due(self, frames_done: int) -> bool:
        pending = frames_done - self.frames_in_parts
        if pending <= 0:
            return False
        return pending >= self.policy.every_frames or self.clock() - self._since >= self.policy.every_seconds

    def maybe_upload(self, frames_done: int) -> bool:
        return self.upload(frames_done) if self.due(frames_done) else False

    def upload(self, frames_done: int) -> bool:
        """Upload the whole lines written since the last part; True when a part was written."""
        data = self._pending_bytes()
        if not data:
            return False
        key = part_key(self.job_id, self.parts + 1, root=self.root)
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="application/x-ndjson")
        except Exception as exc:  # the next part carries these frames
            log.warning("part %s not uploaded: %s", key, exc)
            return False
        self.parts += 1
        self._offset += len(data)
        self.frames_in_parts = self.frames_in_parts + data.count(b"\n")
        self._since = self.clock()
        return True

    def _pending_bytes(self) -> bytes:
        try:
            with self.frames_path.open("rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except OSError:
            return b""
        end = data.rfind(b"\n")
        return data[: end + 1] if end >= 0 else b""


class LiveJob:
    """The pipeline's snapshot callback for one invocation: parts first, then the progress entry."""

    def __init__(self, table: TableProgress | None, parts: PartUploader | None) -> None:
        self.table = table
        self.parts = parts
        self.last: VideoProgress | None = None

    def start(self) -> None:
        if self.table is not None:
            self.table.start()

    def __call__(self, progress: VideoProgress) -> None:
        try:
            if self.parts is not None and progress.stage == "running":
                self.parts.maybe_upload(progress.frames_done)
            self.last = self._with_parts(progress)
            if self.table is not None:
                self.table.update(self.last)
        except Exception as exc:  # never fail the job for its progress
            log.warning("progress callback failed: %s", exc)

    def finish(self, ok: bool) -> None:
        """Upload the last frames as a part (also after a failure: they are done) and send the final
        entry (``done`` after success; the last one seen after a failure)."""
        try:
            if self.parts is not None and self.last is not None:
                self.parts.upload(self.last.frames_done)
            if self.table is not None and self.last is not None:
                done = max(self.last.frames_done, self.parts.frames_in_parts if self.parts else 0)
                final = replace(self._with_parts(self.last), frames_done=done, updated_at=now_iso())
                if ok:
                    final = replace(final, stage="done", eta_seconds=0.0)
                self.table.update(final, final=True)
        except Exception as exc:
            log.warning("final progress failed: %s", exc)
        finally:
            if self.table is not None:
                self.table.close()

    def _with_parts(self, progress: VideoProgress) -> VideoProgress:
        return replace(progress, parts=self.parts.parts) if self.parts is not None else progress
