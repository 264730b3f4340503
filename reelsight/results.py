"""The results schema: one JSON line per sampled frame (frames.jsonl) and one summary.json.

The frame types, the streaming writer and reader of frames.jsonl and the RLE codec are here; the
summary types (:class:`RunSummary`, :class:`ShortSummary`, :class:`Timings`) are defined in
``reelsight.contract.summary`` and re-exported.

numpy and the standard library only; pycocotools is used for RLE when present, with an
equivalent pure-numpy codec otherwise (the Lambdas read results without it).
See docs/results-format.md for every field.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

# The run summary and its short form live in the contract (standard library only); re-exported here.
from reelsight.contract.summary import SCHEMA_VERSION, RunSummary, ShortSummary, Status, Timings

__all__ = [
    "SCHEMA_VERSION",
    "Detections",
    "FrameResult",
    "FramesWriter",
    "RunSummary",
    "SemanticResult",
    "ShortSummary",
    "Status",
    "Timings",
    "mask_to_rle",
    "read_frames_jsonl",
    "read_summary",
    "rle_to_mask",
    "write_summary",
]

BOX_DECIMALS = 2
SCORE_DECIMALS = 4
TIME_DECIMALS = 6


@dataclass
class Detections:
    """N detections of one frame, boxes in source pixels (x1, y1, x2, y2) after rotation."""

    xyxy: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    class_names: list[str]
    masks: list[dict[str, Any]] | None = None
    track_ids: list[int | None] | None = None  # when the run tracked: each box's track, None if none

    def __post_init__(self) -> None:
        self.xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        self.class_names = list(self.class_names)
        n = len(self.xyxy)
        if not (len(self.labels) == len(self.scores) == len(self.class_names) == n):
            raise ValueError(
                f"detections disagree in length: {n} boxes, {len(self.labels)} labels, "
                f"{len(self.scores)} scores, {len(self.class_names)} class names"
            )
        if self.masks is not None and len(self.masks) != n:
            raise ValueError(f"{len(self.masks)} masks for {n} detections")
        if self.track_ids is not None and len(self.track_ids) != n:
            raise ValueError(f"{len(self.track_ids)} track ids for {n} detections")

    @classmethod
    def empty(cls) -> Detections:
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            labels=np.zeros((0,), np.int64),
            scores=np.zeros((0,), np.float32),
            class_names=[],
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "boxes": [[round(float(v), BOX_DECIMALS) for v in box] for box in self.xyxy],
            "labels": [int(v) for v in self.labels],
            "scores": [round(float(v), SCORE_DECIMALS) for v in self.scores],
            "class_names": list(self.class_names),
        }
        if self.masks is not None:
            data["masks"] = [
                {"size": list(m["size"]), "counts": _counts_str(m["counts"])} for m in self.masks
            ]
        if self.track_ids is not None:
            data["track_ids"] = _track_ids(self.track_ids)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Detections:
        masks = data.get("masks")
        track_ids = data.get("track_ids")  # schema 1.1; absent in 1.0 lines and untracked runs
        return cls(
            xyxy=np.asarray(data.get("boxes") or np.zeros((0, 4)), np.float32),
            labels=np.asarray(data.get("labels") or [], np.int64),
            scores=np.asarray(data.get("scores") or [], np.float32),
            class_names=list(data.get("class_names") or []),
            masks=[dict(m) for m in masks] if masks is not None else None,
            track_ids=_track_ids(track_ids),
        )

    def counts_per_class(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for name in self.class_names:
            counts[name] = counts.get(name, 0) + 1
        return counts


def _track_ids(values: Any) -> list[int | None] | None:
    return [int(v) if v is not None else None for v in values] if values is not None else None


@dataclass
class SemanticResult:
    """Per-pixel classes of one frame: class fractions, plus an optional class-id PNG."""

    fractions: dict[str, float]
    class_map_png: str | None = None
    class_map: np.ndarray | None = None  # (H, W) uint8, in memory only

    def to_json(self) -> dict[str, Any]:
        return {
            "fractions": {k: round(float(v), 6) for k, v in self.fractions.items()},
            "class_map_png": self.class_map_png,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SemanticResult:
        return cls(fractions=dict(data.get("fractions") or {}), class_map_png=data.get("class_map_png"))


@dataclass
class FrameResult:
    """Everything known about one sampled frame; ``width``/``height`` are the source size."""

    frame_index: int
    timestamp: float
    width: int
    height: int
    detections: Detections | None = None
    semantic: SemanticResult | None = None
    keyframe: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "frame_index": int(self.frame_index),
            "timestamp": round(float(self.timestamp), TIME_DECIMALS),
            "width": int(self.width),
            "height": int(self.height),
            "keyframe": self.keyframe,
            "detections": self.detections.to_json() if self.detections is not None else None,
            "semantic": self.semantic.to_json() if self.semantic is not None else None,
        }

    @classmethod
    def from_frame(
        cls, frame: Any, *, detections: Detections | None = None, semantic: SemanticResult | None = None
    ) -> FrameResult:
        """The result for a ``reelsight.frames.SampledFrame`` (duck-typed: results stays decoder-free)."""
        width, height = frame.source_size
        return cls(
            frame_index=frame.index,
            timestamp=frame.timestamp,
            width=width,
            height=height,
            keyframe=frame.keyframe,
            detections=detections,
            semantic=semantic,
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FrameResult:
        detections = data.get("detections")
        semantic = data.get("semantic")
        return cls(
            frame_index=int(data["frame_index"]),
            timestamp=float(data["timestamp"]),
            width=int(data["width"]),
            height=int(data["height"]),
            detections=Detections.from_json(detections) if detections is not None else None,
            semantic=SemanticResult.from_json(semantic) if semantic is not None else None,
            keyframe=data.get("keyframe"),
        )


class FramesWriter:
    """Streams frames.jsonl one line per frame, flushed as it goes, and keeps running totals."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.frames_written = 0
        self.detections_total = 0
        self.counts_per_class: dict[str, int] = {}
        self._file: Any = None

    def __enter__(self) -> FramesWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", encoding="utf-8")
        return self

    def write(self, frame: FrameResult) -> None:
        if self._file is None:
            raise RuntimeError("FramesWriter is not open; use it as a context manager")
        self._file.write(json.dumps(frame.to_json(), separators=(",", ":")) + "\n")
        self._file.flush()
        self.frames_written += 1
        if frame.detections is not None:
            self.detections_total += len(frame.detections)
            for name, n in frame.detections.counts_per_class().items():
                self.counts_per_class[name] = self.counts_per_class.get(name, 0) + n

    def write_all(self, frames: Iterable[FrameResult]) -> None:
        for frame in frames:
            self.write(frame)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def read_frames_jsonl(path: str | Path) -> Iterator[FrameResult]:
    """Yield frames lazily; a malformed line raises ValueError naming the file and line number."""
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield FrameResult.from_json(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not a frame record ({exc})") from None


def write_summary(path: str | Path, summary: RunSummary) -> None:
    """Write summary.json atomically (a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".summary-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(summary.to_json(), handle, indent=2, sort_keys=False)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_summary(path: str | Path) -> RunSummary:
    return RunSummary.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


# --- COCO run-length encoding --------------------------------------------------------------


def _counts_str(counts: Any) -> str:
    return counts.decode("ascii") if isinstance(counts, bytes) else str(counts)


def mask_to_rle(mask: np.ndarray) -> dict[str, Any]:
    """Boolean HxW mask -> COCO compressed RLE ``{"size": [h, w], "counts": str}``."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {mask.shape}")
    binary = mask.astype(bool)
    try:
        from pycocotools import mask as coco_mask
    except ImportError:
        return _encode_rle_numpy(binary)
    rle = coco_mask.encode(np.asfortranarray(binary.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": _counts_str(rle["counts"])}


def rle_to_mask(rle: dict[str, Any]) -> np.ndarray:
    """COCO compressed RLE -> boolean HxW mask."""
    try:
        from pycocotools import mask as coco_mask
    except ImportError:
        return _decode_rle_numpy(rle)
    coded = {"size": list(rle["size"]), "counts": _counts_str(rle["counts"]).encode("ascii")}
    with warnings.catch_warnings():
        # pycocotools 2.0.x trips numpy 2's copy-keyword deprecation inside decode.
        warnings.simplefilter("ignore", DeprecationWarning)
        return np.asarray(coco_mask.decode(coded), dtype=bool)


def _run_lengths(binary: np.ndarray) -> list[int]:
    """Alternating run lengths of the column-major flattening, starting with a run of zeros."""
    flat = binary.flatten(order="F").astype(np.int8)
    if flat.size == 0:
        return []
    changes = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    runs = np.diff(bounds).tolist()
    if flat[0]:
        runs.insert(0, 0)
    return [int(r) for r in runs]


def _encode_rle_numpy(binary: np.ndarray) -> dict[str, Any]:
    h, w = binary.shape
    runs = _run_lengths(binary)
    chars: list[str] = []
    for i, run in enumerate(runs):
        value = run - runs[i - 2] if i > 2 else run
        more = True
        while more:
            chunk = value & 0x1F
            value >>= 5
            more = (value != -1) if (chunk & 0x10) else (value != 0)
            if more:
                chunk |= 0x20
            chars.append(chr(chunk + 48))
    return {"size": [int(h), int(w)], "counts": "".join(chars)}


def _decode_rle_numpy(rle: dict[str, Any]) -> np.ndarray:
    h, w = (int(v) for v in rle["size"])
    text = _counts_str(rle["counts"])
    runs: list[int] = []
    pos = 0
    while pos < len(text):
        value, shift, more = 0, 0, True
        while more:
            chunk = ord(text[pos]) - 48
            value |= (chunk & 0x1F) << (5 * shift)
            more = bool(chunk & 0x20)
            pos += 1
            shift += 1
            if not more and (chunk & 0x10):
                value |= -1 << (5 * shift)
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    flat = np.zeros(h * w, dtype=bool)
    offset = 0
    for i, run in enumerate(runs):
        if i % 2 == 1:
            flat[offset : offset + run] = True
        offset += run
    return flat.reshape((w, h)).T.copy()
