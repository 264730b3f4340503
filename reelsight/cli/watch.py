"""Following a job while it runs (``reelsight submit --wait``, ``reelsight status JOB --watch``).

Three renderings of the same polls, one per kind of output:

* a terminal: a tqdm bar of the frames done/expected with percent, frames/s and ETA, and one line
  per status change (QUEUED, RUNNING, SUCCEEDED/PARTIAL/FAILED);
* anything else (a pipe, a file): plain text, one line per change, e.g.
  ``  RUNNING 12/60 frames (20%) 3.1 frames/s ETA 15 s``;
* ``--json``: JSON lines, one object per change (:func:`event`).
"""

from __future__ import annotations

import json
import sys
from typing import Any, Literal, TextIO

from reelsight.contract.jobs import JobRecord
from reelsight.contract.progress import VideoProgress, job_progress

Mode = Literal["bar", "text", "json"]
BAR_FORMAT = "{desc} |{bar}| {n_fmt}/{total_fmt} frames ({percentage:.0f}%){postfix}"


def choose_mode(stream: TextIO, as_json: bool) -> Mode:
    if as_json:
        return "json"
    return "bar" if stream.isatty() else "text"


def eta_text(seconds: float) -> str:
    """``15 s``, ``2 min 05 s``, ``1 h 02 min``."""
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def rate_of(progress: VideoProgress) -> float | None:
    """Frames per second the job moves at: through the model, else decoded."""
    return progress.inference_fps if progress.inference_fps is not None else progress.decode_fps


def rate_eta_text(progress: VideoProgress) -> str:
    """`` 3.1 frames/s ETA 15 s`` (each part only when known), with a leading space; or ''."""
    parts: list[str] = []
    rate = rate_of(progress)
    if rate is not None:
        parts.append(f"{rate:.1f} frames/s")
    if progress.eta_seconds is not None and progress.stage != "done":
        parts.append(f"ETA {eta_text(progress.eta_seconds)}")
    return "".join(f" {part}" for part in parts)


def frames_text(progress: VideoProgress) -> str:
    """``12/60 frames (20%)``, or ``12 frames`` while the total is unknown."""
    if progress.frames_total is None:
        return f"{progress.frames_done} frames"
    percent = progress.percent
    shown = f" ({percent:.0f}%)" if percent is not None else ""
    return f"{progress.frames_done}/{progress.frames_total} frames{shown}"


def progress_line(status: str, progress: VideoProgress) -> str:
    """``RUNNING 12/60 frames (20%) 3.1 frames/s ETA 15 s`` (``[loading]`` etc. for other stages)."""
    stage = "" if progress.stage == "running" else f" [{progress.stage}]"
    return f"{status}{stage} {frames_text(progress)}{rate_eta_text(progress)}"


def status_line(status: str, job: JobRecord | None) -> str:
    reason = f" - {job.reason}" if job and job.reason else ""
    return f"  status: {status}{reason}"


def event(status: str, job: JobRecord | None, progress: VideoProgress | None) -> dict[str, Any]:
    """One ``--json`` line: the status, the summed progress (with ``percent``) and, once the job has
    ended, its whole record."""
    summed = {**progress.to_json(), "percent": progress.percent} if progress else None
    line: dict[str, Any] = {
        "job_id": job.job_id if job else None,
        "status": status,
        "reason": job.reason if job else None,
        "progress": summed,
    }
    if job is not None and job.terminal:
        line["job"] = job.to_item()
    return line


class JobWatcher:
    """Renders each poll of a job (``update``); prints only what changed since the last one."""

    def __init__(self, mode: Mode, stream: TextIO | None = None, *, history_seen: int = 0) -> None:
        """``history_seen``: status_history entries not to show (a resumed job's earlier attempts)."""
        self.mode = mode
        self.stream = stream or sys.stdout
        self._last_status: str | None = None
        self._last_progress: tuple[Any, ...] | None = None
        self._bar: Any = None
        self._history_shown = history_seen  # status_history entries already accounted for

    def update(self, status: str, job: JobRecord | None) -> None:
        for missed in self._missed_statuses(status, job):
            self._render(missed, None, None, status_changed=True)
        progress = job_progress(job.progress) if job else None
        key = _progress_key(progress)
        status_changed = status != self._last_status
        progress_changed = key != self._last_progress
        if not status_changed and not progress_changed:
            return
        self._last_status, self._last_progress = status, key
        self._render(status, job, progress, status_changed=status_changed)

    def _missed_statuses(self, status: str, job: JobRecord | None) -> list[str]:
        """Statuses the job passed through between two polls (a short job can go from QUEUED to
        SUCCEEDED within one interval), from its history, so every stage is shown."""
        history = (job.status_history or []) if job else []
        new = [
            str(entry.get("status")) for entry in history[self._history_shown :] if isinstance(entry, dict)
        ]
        self._history_shown = max(self._history_shown, len(history))
        if new and new[-1] == status:
            new = new[:-1]
        return [name for name in new if name != self._last_status]

    def _render(
        self, status: str, job: JobRecord | None, progress: VideoProgress | None, *, status_changed: bool
    ) -> None:
        if status_changed:
            self._last_status = status
        if self.mode == "json":
            self._write(json.dumps(event(status, job, progress), sort_keys=True, default=str))
        elif self.mode == "text":
            self._text(status, job, progress, status_changed)
        else:
            self._draw(status, job, progress, status_changed)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _write(self, line: str) -> None:
        print(line, file=self.stream, flush=True)

    def _text(
        self, status: str, job: JobRecord | None, progress: VideoProgress | None, status_changed: bool
    ) -> None:
        if status_changed:
            self._write(status_line(status, job))
        if progress is not None and not (job and job.terminal):
            self._write(f"  {progress_line(status, progress)}")

    def _draw(
        self, status: str, job: JobRecord | None, progress: VideoProgress | None, status_changed: bool
    ) -> None:
        if status_changed:
            self.close()
            self._write(status_line(status, job))
        if progress is None or (job is not None and job.terminal):
            return
        bar = self._open_bar(progress)
        bar.total = progress.frames_total
        bar.n = progress.frames_done
        bar.set_description_str(f"  {progress.stage}", refresh=False)
        bar.set_postfix_str(rate_eta_text(progress).strip(), refresh=False)
        bar.refresh()

    def _open_bar(self, progress: VideoProgress) -> Any:
        if self._bar is not None and (self._bar.total is None) != (progress.frames_total is None):
            self.close()  # the total became known (or unknown): the other bar format
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(
                total=progress.frames_total,
                unit="frame",
                file=self.stream,
                bar_format=BAR_FORMAT if progress.frames_total else None,
                dynamic_ncols=True,
                leave=True,
            )
        return self._bar


def _progress_key(progress: VideoProgress | None) -> tuple[Any, ...] | None:
    if progress is None:
        return None
    return (progress.stage, progress.frames_done, progress.frames_total, progress.eta_seconds)
