"""Tracks: follow each detected object across the sampled frames, with ByteTrack.

ByteTrack comes from roboflow's ``trackers`` (2.1, Apache-2.0). How it is used, and why:

- **One tracker per class name.** trackers 2.1 matches boxes by overlap alone, whatever their class;
  a tracker per class keeps a person's track from taking over a car's box.
- **Track IDs are the run's own**, 1, 2, ... in the order tracks are confirmed. The library numbers
  tracks from one counter shared by every tracker in the process, so its numbers are mapped per run,
  and its updates take turns (a lock) so concurrent runs in one worker cannot race on that counter.
- **A track is confirmed at its second sighting** (``minimum_consecutive_frames=2``): a one-frame
  false positive never becomes a track. The library labels the first sighting -1; that detection is
  labelled here, one frame later, so a track's first frame is its real first sighting. This holds
  frames.jsonl one frame behind the model.
- **A lost track is kept for one second** of video time (at least two samples), whatever the
  sampling rate, then it ends; an object that comes back later gets a new ID.
- **Scores:** a detection scoring ``HIGH_SCORE`` or more may start a track; weaker ones (down to the
  run's ``score_threshold``) only extend tracks (ByteTrack's second association).

``FrameTracker`` is the streaming form the pipeline uses; ``track_frames`` the generator form;
``tracks_from_frames`` rebuilds the track summaries from tracked frames (frames.jsonl);
``RecordingPredictor`` and ``stitch_frames`` track a split job's time ranges as one run.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from itertools import zip_longest
from pathlib import Path
from typing import Any, Generic, TextIO, TypeVar

import numpy as np

from reelsight.contract.tracks import Sighting, TrackSummary
from reelsight.results import FrameResult

T = TypeVar("T")

LOST_SECONDS = 1.0  # ByteTrack's own default: 30 frames at 30 fps
HIGH_SCORE = 0.6  # ByteTrack's split between the first and the second association
MIN_IOU = 0.1  # overlap with a track's predicted box that still counts as a match
CONFIRM_FRAMES = 2
_SAME_BOX_IOU = 0.9  # a confirmed track's starting box is its first detection's box

# trackers numbers tracks from a class-level counter; updates take turns across threads.
_LIBRARY_LOCK = threading.Lock()


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return np.asarray(inter / np.maximum(area + areas - inter, 1e-9))


class _TrackBook:
    """Track summaries by run track id, fed one detection at a time."""

    def __init__(self) -> None:
        self.tracks: dict[int, TrackSummary] = {}

    def record(self, track_id: int, frame: FrameResult, i: int) -> None:
        det = frame.detections
        if det is None:
            return
        mask = det.masks[i] if det.masks is not None else None
        sighting = Sighting.of(frame.frame_index, frame.timestamp, det.xyxy[i], det.scores[i], mask)
        track = self.tracks.get(track_id)
        if track is None:
            self.tracks[track_id] = TrackSummary.from_sighting(track_id, det.class_names[i], sighting)
        else:
            track.add(sighting)

    def summaries(self) -> list[TrackSummary]:
        return [self.tracks[k] for k in sorted(self.tracks)]


class FrameTracker(Generic[T]):
    """Streaming tracking: ``push`` each frame's result (with a payload, e.g. its image) in order;
    it returns the frames that are final, one frame behind; ``finish`` returns the last one.

    Each returned result's ``detections.track_ids`` is set (None for a detection on no track).
    """

    def __init__(self, sample_rate: float) -> None:
        from trackers import ByteTrackTracker

        self._make = ByteTrackTracker
        self.lost_frames = max(2, round(sample_rate * LOST_SECONDS))
        self._by_class: dict[str, Any] = {}
        self._run_ids: dict[tuple[str, int], int] = {}
        self._book = _TrackBook()
        self._held: tuple[FrameResult, T] | None = None

    @property
    def tracks(self) -> list[TrackSummary]:
        """The tracks so far, by id."""
        return self._book.summaries()

    def push(self, result: FrameResult, payload: T) -> list[tuple[FrameResult, T]]:
        self._assign(result)
        held, self._held = self._held, (result, payload)
        return [held] if held is not None else []

    def finish(self) -> list[tuple[FrameResult, T]]:
        held, self._held = self._held, None
        return [held] if held is not None else []

    def _tracker(self, name: str) -> Any:
        if name not in self._by_class:
            # lost_track_buffer counts frames at frame_rate 30; passing 30 makes it a frame count.
            self._by_class[name] = self._make(
                lost_track_buffer=self.lost_frames,
                frame_rate=30.0,
                track_activation_threshold=HIGH_SCORE,
                minimum_consecutive_frames=CONFIRM_FRAMES,
                minimum_iou_threshold=MIN_IOU,
                high_conf_det_threshold=HIGH_SCORE,
            )
        return self._by_class[name]

    def _assign(self, result: FrameResult) -> None:
        det = result.detections
        if det is None:
            return
        ids: list[int | None] = [None] * len(det)
        det.track_ids = ids
        with _LIBRARY_LOCK:
            for name in sorted(set(self._by_class) | set(det.class_names)):
                self._update_class(name, result, ids)
        for i, track_id in enumerate(ids):
            if track_id is not None:
                self._book.record(track_id, result, i)

    def _update_class(self, name: str, result: FrameResult, ids: list[int | None]) -> None:
        import supervision as sv

        det = result.detections
        assert det is not None
        tracker = self._tracker(name)
        index = np.array([i for i, n in enumerate(det.class_names) if n == name], dtype=np.int64)
        starting = [(t, t.get_state_bbox()) for t in tracker.tracks if t.tracker_id == -1]
        found = tracker.update(
            sv.Detections(
                xyxy=det.xyxy[index].reshape(-1, 4),
                confidence=det.scores[index],
                class_id=det.labels[index],
                data={"index": index},
            )
        )
        rows = found.data.get("index", np.zeros(0, np.int64))
        for library_id, row in zip(
            np.asarray(found.tracker_id).tolist(), np.asarray(rows).tolist(), strict=True
        ):
            if library_id >= 0:
                ids[int(row)] = self._run_id(name, int(library_id))
        for track, box in starting:
            if track.tracker_id >= 0:
                self._label_first_sighting(name, self._run_id(name, int(track.tracker_id)), box)

    def _run_id(self, name: str, library_id: int) -> int:
        key = (name, library_id)
        if key not in self._run_ids:
            self._run_ids[key] = len(self._run_ids) + 1
        return self._run_ids[key]

    def _label_first_sighting(self, name: str, track_id: int, box: np.ndarray) -> None:
        """The held frame's detection that started a track confirmed now gets the track's id."""
        if self._held is None:
            return
        frame = self._held[0]
        det = frame.detections
        if det is None or det.track_ids is None or not len(det):
            return
        free = [i for i, n in enumerate(det.class_names) if n == name and det.track_ids[i] is None]
        if not free:
            return
        overlaps = _iou(np.asarray(box, np.float64), det.xyxy[free].astype(np.float64))
        best = int(np.argmax(overlaps))
        if overlaps[best] >= _SAME_BOX_IOU:
            det.track_ids[free[best]] = track_id
            self._book.record(track_id, frame, free[best])


def track_frames(frames: Iterable[FrameResult], *, sample_rate: float) -> Iterator[FrameResult]:
    """The frames, in order, with ``detections.track_ids`` set (a generator; one frame behind)."""
    tracker: FrameTracker[None] = FrameTracker(sample_rate)
    for frame in frames:
        for ready, _ in tracker.push(frame, None):
            yield ready
    for ready, _ in tracker.finish():
        yield ready


def tracks_from_frames(frames: Iterable[FrameResult]) -> list[TrackSummary]:
    """The track summaries that tracked frames (e.g. a frames.jsonl) state, by id."""
    book = _TrackBook()
    for frame in frames:
        det = frame.detections
        if det is None or det.track_ids is None:
            continue
        for i, track_id in enumerate(det.track_ids):
            if track_id is not None:
                book.record(track_id, frame, i)
    return book.summaries()


# --- tracks stitched across the time ranges of a split job (reelsight.worker.split_job) ---
#
# A range runs without tracking and records, beside its frames.jsonl, each frame's detections as the
# model returned them: frames.jsonl rounds boxes to 0.01 px and scores to 1e-4, and a rounded value
# can fall on the other side of a threshold (a score of 0.59996 is 0.6 rounded, HIGH_SCORE). The
# merging host replays those values through one FrameTracker, so the ids are a one-host run's.

TRACKER_INPUT_FILE = "tracker_input.jsonl"


def tracker_input_line(result: FrameResult, *, with_masks: bool) -> dict[str, Any]:
    """One frame's detections at full precision (float32 boxes and scores are exact as JSON floats);
    its masks too when ``with_masks`` (frames.jsonl keeps none, while tracks.jsonl's best sighting
    carries the mask)."""
    det = result.detections
    line: dict[str, Any] = {"frame_index": int(result.frame_index), "timestamp": float(result.timestamp)}
    if det is None:
        return line
    line["boxes"] = det.xyxy.astype(np.float64).tolist()
    line["scores"] = det.scores.astype(np.float64).tolist()
    if with_masks and det.masks is not None:
        line["masks"] = [_rle_text(mask) for mask in det.masks]
    return line


def _rle_text(rle: dict[str, Any]) -> dict[str, Any]:
    counts = rle["counts"]
    return {
        "size": [int(v) for v in rle["size"]],
        "counts": counts.decode("ascii") if isinstance(counts, bytes) else str(counts),
    }


class RecordingPredictor:
    """A predictor that also writes each predicted frame's ``tracker_input_line`` to ``handle``;
    everything else is the wrapped predictor's."""

    def __init__(self, predictor: Any, handle: TextIO, *, with_masks: bool) -> None:
        self._predictor = predictor
        self._handle = handle
        self._with_masks = with_masks

    def __getattr__(self, name: str) -> Any:
        return getattr(self._predictor, name)

    def predict(self, frames: list[Any], *, with_masks: bool = True) -> list[FrameResult]:
        results: list[FrameResult] = self._predictor.predict(frames, with_masks=with_masks)
        for result in results:
            line = tracker_input_line(result, with_masks=self._with_masks)
            self._handle.write(json.dumps(line, separators=(",", ":")) + "\n")
        return results


def read_tracker_input(path: str | Path) -> Iterator[dict[str, Any]]:
    """The lines ``RecordingPredictor`` wrote; ValueError naming the file and line for a bad one."""
    with Path(path).open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            try:
                line = json.loads(text)
                int(line["frame_index"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not a tracker input line ({exc})") from None
            yield line


def _full_precision(frame: FrameResult, line: dict[str, Any]) -> None:
    """``frame`` (read back from frames.jsonl) with the detections its model returned."""
    if int(line["frame_index"]) != frame.frame_index:
        raise ValueError(
            f"tracker input is out of step with frames.jsonl: frame {line['frame_index']} "
            f"where frames.jsonl has frame {frame.frame_index}"
        )
    frame.timestamp = float(line["timestamp"])
    det = frame.detections
    if det is None:
        return
    boxes = np.asarray(line.get("boxes") or np.zeros((0, 4)), np.float32).reshape(-1, 4)
    scores = np.asarray(line.get("scores") or [], np.float32)
    if len(boxes) != len(det) or len(scores) != len(det):
        raise ValueError(f"frame {frame.frame_index}: tracker input holds another number of detections")
    det.xyxy, det.scores = boxes, scores
    if line.get("masks") is not None:
        det.masks = [dict(m) for m in line["masks"]]


def stitch_frames(
    tracker: FrameTracker[None],
    frames: Iterable[FrameResult],
    recorded: Iterable[dict[str, Any]],
    *,
    keep_masks: bool,
) -> Iterator[FrameResult]:
    """The ranges' frames, in order, tracked by ``tracker`` as one run: each frame gets the
    detections of ``recorded`` (its tracker input line) first; masks stay only with ``keep_masks``."""
    for frame, line in zip_longest(frames, recorded):
        if frame is None or line is None:
            raise ValueError("tracker input and frames.jsonl hold a different number of frames")
        _full_precision(frame, line)
        for ready, _ in tracker.push(frame, None):
            yield _drop_masks(ready, keep_masks)
    for ready, _ in tracker.finish():
        yield _drop_masks(ready, keep_masks)


def _drop_masks(frame: FrameResult, keep_masks: bool) -> FrameResult:
    if not keep_masks and frame.detections is not None:
        frame.detections.masks = None
    return frame
