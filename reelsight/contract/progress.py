"""A video's progress while a job runs: the one entry shape every route stores in the jobs table.

``JobRecord.progress`` maps each of a job's videos to one entry (:meth:`VideoProgress.to_json`);
the async worker writes it through :meth:`~reelsight.contract.jobs.JobsTable.record_progress`, a
Processing host POSTs it to the API, which writes it the same way. :func:`job_progress` sums a
job's entries for display (the CLI's bar, the API, the viewer).

Readers are tolerant: entries older writers left hold only ``frames_done``, ``frames_total`` and
``updated_at``; every other field then reads as unknown (None) or 0.

Standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

Stage = Literal["loading", "running", "writing", "done"]
STAGES: tuple[Stage, ...] = ("loading", "running", "writing", "done")


@dataclass(frozen=True)
class VideoProgress:
    """One video's progress. ``frames_*`` count sampled frames (those the model sees)."""

    stage: Stage
    frames_done: int
    frames_total: int | None = None  # frames expected; None when the container does not say
    decode_fps: float | None = None  # sampled frames decoded per second
    inference_fps: float | None = None  # frames through the model per second
    eta_seconds: float | None = None
    parts: int = 0  # result parts written so far (names.part_key)
    updated_at: str = ""  # jobs.now_iso format

    @property
    def percent(self) -> float | None:
        """0-100 (100 once done); None when the total is unknown."""
        if self.stage == "done":
            return 100.0
        if not self.frames_total:
            return None
        return round(min(100.0, 100.0 * self.frames_done / self.frames_total), 1)

    def to_json(self) -> dict[str, Any]:
        """The stored entry; unknown (None) fields are left out."""
        entry: dict[str, Any] = {
            "stage": self.stage,
            "frames_done": self.frames_done,
            "frames_total": self.frames_total,
            "decode_fps": _rounded(self.decode_fps),
            "inference_fps": _rounded(self.inference_fps),
            "eta_seconds": _rounded(self.eta_seconds),
            "parts": self.parts,
            "updated_at": self.updated_at or None,
        }
        return {name: value for name, value in entry.items() if value is not None}

    @classmethod
    def from_json(cls, entry: Mapping[str, Any] | None) -> VideoProgress:
        """An entry as stored by any writer; missing or unreadable fields read as unknown."""
        data = entry if isinstance(entry, Mapping) else {}
        stage = data.get("stage")
        return cls(
            stage=cast(Stage, stage) if stage in STAGES else "running",
            frames_done=_count(data.get("frames_done")) or 0,
            frames_total=_count(data.get("frames_total")),
            decode_fps=_rate(data.get("decode_fps")),
            inference_fps=_rate(data.get("inference_fps")),
            eta_seconds=_rate(data.get("eta_seconds")),
            parts=_count(data.get("parts")) or 0,
            updated_at=str(data.get("updated_at") or ""),
        )


def job_progress(progress_map: Mapping[str, Any] | None) -> VideoProgress | None:
    """A job's progress over its videos (``JobRecord.progress``); None when it has no entry.

    Frames and parts add up; the total is known only when every video's is; the stage is the
    earliest any video is in; rates add (videos run one after another or side by side, either way
    the job moves at their sum); the ETA is the longest; ``updated_at`` the latest.
    """
    entries = [VideoProgress.from_json(v) for v in (progress_map or {}).values() if isinstance(v, Mapping)]
    if not entries:
        return None
    totals = [e.frames_total for e in entries]
    return VideoProgress(
        stage=min((e.stage for e in entries), key=STAGES.index),
        frames_done=sum(e.frames_done for e in entries),
        frames_total=None if None in totals else sum(t for t in totals if t is not None),
        decode_fps=_sum_known([e.decode_fps for e in entries]),
        inference_fps=_sum_known([e.inference_fps for e in entries]),
        eta_seconds=_max_known([e.eta_seconds for e in entries]),
        parts=sum(e.parts for e in entries),
        updated_at=max(e.updated_at for e in entries),
    )


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and value >= 0 else None


def _rate(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None


def _rounded(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 2)


def _sum_known(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _max_known(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None
