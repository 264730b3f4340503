"""One tracked object as ``tracks.jsonl`` holds it: a line per track, written once the run ends.

Standard library only: the worker writes these lines, and the API, the viewer and users read them.
:class:`TrackSummary` accumulates a track's sightings (``add``) and reads and writes its line
(``to_json``/``from_json``); ``reelsight.tracking`` fills it while a run tracks, and
``reelsight.tracking.tracks_from_frames`` rebuilds the same summaries from ``frames.jsonl``.
See docs/results-format.md for every field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BOX_DECIMALS = 2
SCORE_DECIMALS = 4
TIME_DECIMALS = 6


def _rle_json(rle: Mapping[str, Any]) -> dict[str, Any]:
    counts = rle["counts"]
    return {
        "size": [int(v) for v in rle["size"]],
        "counts": counts.decode("ascii") if isinstance(counts, bytes) else str(counts),
    }


@dataclass(frozen=True)
class Sighting:
    """One detection of a track: the frame it is in, its box in source pixels, its score."""

    frame_index: int
    timestamp: float
    box: tuple[float, float, float, float]
    score: float
    mask: Mapping[str, Any] | None = None  # COCO RLE, for instance-segmentation models

    @classmethod
    def of(
        cls,
        frame_index: int,
        timestamp: float,
        box: Sequence[float],
        score: float,
        mask: Mapping[str, Any] | None = None,
    ) -> Sighting:
        """The sighting as frames.jsonl rounds it, so both sources give equal summaries."""
        x1, y1, x2, y2 = (round(float(v), BOX_DECIMALS) for v in box)
        return cls(
            frame_index=int(frame_index),
            timestamp=round(float(timestamp), TIME_DECIMALS),
            box=(x1, y1, x2, y2),
            score=round(float(score), SCORE_DECIMALS),
            mask=mask,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "frame_index": self.frame_index,
            "timestamp": self.timestamp,
            "box": list(self.box),
            "score": self.score,
            "mask": _rle_json(self.mask) if self.mask is not None else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Sighting:
        mask = data.get("mask")
        return cls.of(
            data["frame_index"],
            data["timestamp"],
            data["box"],
            data["score"],
            dict(mask) if isinstance(mask, Mapping) else None,
        )


@dataclass
class TrackSummary:
    """A track: its class, first and last sighting, how often it was seen, and its best frame."""

    track_id: int
    class_name: str
    first_seen: float
    last_seen: float
    frames_seen: int
    best: Sighting  # the highest-scoring sighting (the earliest among equals)
    score_total: float = field(default=0.0, repr=False)  # for the mean; not written
    mean_score_read: float | None = field(default=None, repr=False)  # a line's own mean, when read

    @classmethod
    def from_sighting(cls, track_id: int, class_name: str, sighting: Sighting) -> TrackSummary:
        return cls(
            track_id=int(track_id),
            class_name=str(class_name),
            first_seen=sighting.timestamp,
            last_seen=sighting.timestamp,
            frames_seen=1,
            best=sighting,
            score_total=sighting.score,
        )

    def add(self, sighting: Sighting) -> None:
        """One more sighting, in any order."""
        self.first_seen = min(self.first_seen, sighting.timestamp)
        self.last_seen = max(self.last_seen, sighting.timestamp)
        self.frames_seen += 1
        self.score_total += sighting.score
        if (sighting.score, -sighting.timestamp) > (self.best.score, -self.best.timestamp):
            self.best = sighting

    @property
    def dwell_seconds(self) -> float:
        """Seconds from the first to the last sighting."""
        return round(self.last_seen - self.first_seen, TIME_DECIMALS)

    @property
    def mean_score(self) -> float:
        if self.mean_score_read is not None:
            return self.mean_score_read
        return round(self.score_total / max(self.frames_seen, 1), SCORE_DECIMALS)

    def to_json(self) -> dict[str, Any]:
        return {
            "track_id": self.track_id,
            "class_name": self.class_name,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "dwell_seconds": self.dwell_seconds,
            "frames_seen": self.frames_seen,
            "mean_score": self.mean_score,
            "best_frame": self.best.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrackSummary:
        """A tracks.jsonl line; KeyError/TypeError/ValueError when it is not one."""
        return cls(
            track_id=int(data["track_id"]),
            class_name=str(data["class_name"]),
            first_seen=float(data["first_seen"]),
            last_seen=float(data["last_seen"]),
            frames_seen=int(data["frames_seen"]),
            best=Sighting.from_json(data["best_frame"]),
            mean_score_read=round(float(data["mean_score"]), SCORE_DECIMALS),
        )


def unique_objects_per_class(tracks: Iterable[TrackSummary]) -> dict[str, int]:
    """Tracks per class name, most first (then by name), as the summary states them."""
    counts: dict[str, int] = {}
    for track in tracks:
        counts[track.class_name] = counts.get(track.class_name, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def write_tracks_jsonl(path: str | Path, tracks: Iterable[TrackSummary]) -> int:
    """One compact line per track, by track id; returns the number of lines."""
    ordered = sorted(tracks, key=lambda t: t.track_id)
    with Path(path).open("w", encoding="utf-8") as handle:
        for track in ordered:
            handle.write(json.dumps(track.to_json(), separators=(",", ":")) + "\n")
    return len(ordered)


def read_tracks_jsonl(path: str | Path) -> Iterator[TrackSummary]:
    """Yield tracks lazily; a malformed line raises ValueError naming the file and line number."""
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield TrackSummary.from_json(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not a track record ({exc})") from None
