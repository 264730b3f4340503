"""One video through one model: sample, predict in batches, stream results to disk.

A decode thread fills a bounded queue (two batches) so decoding overlaps inference; the
main thread predicts and writes each frame as soon as it is known. Nothing grows with the
video's length: frames are dropped once written, and the contact sheet keeps a capped set
of small thumbnails.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from reelsight.contract.jobs import now_iso
from reelsight.contract.names import FRAMES_FILE, SUMMARY_FILE, TRACKS_FILE
from reelsight.contract.options import check_tracking, sampling_rate, tracking_warnings
from reelsight.contract.progress import Stage, VideoProgress
from reelsight.contract.tracks import unique_objects_per_class, write_tracks_jsonl
from reelsight.errors import VideoError
from reelsight.frames import SampledFrame, VideoReader, open_video
from reelsight.params import RunOptions
from reelsight.results import FrameResult, FramesWriter, RunSummary, Timings, write_summary

if TYPE_CHECKING:
    from reelsight.models import Predictor
    from reelsight.tracking import FrameTracker

log = logging.getLogger(__name__)

QUEUE_BATCHES = 2
FRAMES_DIR = "frames"
MASK_DIR = "masks"
CLASS_MAP_DIR = "class_maps"
CONTACT_SHEET = "contact_sheet.png"
PREVIEW = "preview.mp4"
THUMB_WIDTH = 320
MAX_THUMBS = 48  # contact sheet cap; memory stays bounded whatever the length

ProgressFn = Callable[[int, int | None], None]  # (frames done, frames expected), after each batch
# A fuller snapshot: "loading" before the model loads, "running" after each batch (frames.jsonl is
# flushed up to frames_done by then), "writing" once the last frame is written.
SnapshotFn = Callable[[VideoProgress], None]


def frame_stem(frame_index: int) -> str:
    return f"frame_{frame_index:06d}"


@dataclass
class _Timings:
    decode: float = 0.0
    inference: float = 0.0
    write: float = 0.0


@dataclass(frozen=True)
class _Pace:
    """What a progress snapshot is computed from: when the frames began, how many, the timings."""

    since: float  # perf_counter() when the model was ready
    expected: int | None
    timings: _Timings

    def snapshot(self, stage: Stage, done: int) -> VideoProgress:
        """Rates from the time spent decoding and predicting so far; the ETA from the overall pace."""
        elapsed = time.perf_counter() - self.since
        eta = None
        if stage == "running" and self.expected is not None and done > 0 and elapsed > 0:
            eta = max(self.expected - done, 0) / (done / elapsed)
        decode, inference = self.timings.decode, self.timings.inference
        return VideoProgress(
            stage=stage,
            frames_done=done,
            frames_total=self.expected,
            decode_fps=done / decode if done and decode > 0 else None,
            inference_fps=done / inference if done and inference > 0 else None,
            eta_seconds=eta if stage == "running" else None,
            updated_at=now_iso(),
        )


class _Done:
    """Queue sentinel; carries the decode thread's exception, if any."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def _decode_worker(
    reader: VideoReader, batch_size: int, out: queue.Queue[Any], stop: threading.Event, timings: _Timings
) -> None:
    try:
        batches = reader.batches(batch_size)
        while not stop.is_set():
            started = time.perf_counter()
            batch = next(batches, None)
            timings.decode += time.perf_counter() - started
            if batch is None:
                break
            while not stop.is_set():
                try:
                    out.put(batch, timeout=0.2)
                    break
                except queue.Full:
                    continue
        out.put(_Done())
    except BaseException as exc:  # handed to the consumer, which re-raises it
        out.put(_Done(exc))


def _batches(
    reader: VideoReader, batch_size: int, timings: _Timings
) -> Generator[list[SampledFrame], None, None]:
    """Batches decoded on a background thread, at most QUEUE_BATCHES ahead of the consumer."""
    pending: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_BATCHES)
    stop = threading.Event()
    thread = threading.Thread(
        target=_decode_worker, args=(reader, batch_size, pending, stop, timings), name="reelsight-decode"
    )
    thread.start()
    try:
        while True:
            item = pending.get()
            if isinstance(item, _Done):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:  # unblock a producer waiting on a full queue
                pending.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.1)


def run_video(
    video: str | Path,
    *,
    options: RunOptions,
    out_dir: str | Path,
    predictor: Predictor | None = None,
    progress: ProgressFn | None = None,
    video_uri: str | None = None,
    snapshot: SnapshotFn | None = None,
) -> RunSummary:
    """Run ``options.model`` on ``video``, writing frames.jsonl, summary.json and the included extras.

    Raises VideoError / UnsupportedMediaError for undecodable input and ParamError for bad
    options; a video that breaks off midway gives a summary with ``status="partial"``.
    """
    options = check_tracking(options.validate())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    timings = _Timings()
    load_seconds = 0.0
    with open_video(video, options.sampling) as reader:
        expected = reader.expected_count
        if snapshot is not None:
            snapshot(_Pace(started, expected, timings).snapshot("loading", 0))
        if predictor is None:
            from reelsight.models import load_predictor

            t0 = time.perf_counter()
            predictor = load_predictor(
                options.model,
                weights=options.weights,
                device=options.device,
                precision=options.precision,
                score_threshold=options.score_threshold,
            )
            load_seconds = time.perf_counter() - t0
        check_tracking(options, predictor.spec)
        extras = _Extras(out, options, predictor, reader.info.fps)
        with_masks = "masks" in options.include or "mask_pngs" in options.include
        with FramesWriter(out / FRAMES_FILE) as writer:
            sink = _Sink(writer, extras, options)
            try:
                # closing(): stop the decode thread at once, even when predict raises.
                with contextlib.closing(_batches(reader, options.batch_size, timings)) as stream:
                    for batch in stream:
                        t0 = time.perf_counter()
                        results = predictor.predict(batch, with_masks=with_masks)
                        t1 = time.perf_counter()
                        for frame, result in zip(batch, results, strict=True):
                            sink.add(frame, result)
                        timings.inference += t1 - t0
                        timings.write += time.perf_counter() - t1
                        if progress is not None:
                            progress(writer.frames_written, expected)
                        if snapshot is not None:
                            pace = _Pace(started + load_seconds, expected, timings)
                            snapshot(pace.snapshot("running", writer.frames_written))
                if sink.finish() and progress is not None:  # the frame tracking held back
                    progress(writer.frames_written, expected)
                if snapshot is not None:
                    pace = _Pace(started + load_seconds, expected, timings)
                    snapshot(pace.snapshot("writing", writer.frames_written))
            finally:
                t0 = time.perf_counter()
                extras.close()
                timings.write += time.perf_counter() - t0
        info = reader.info
        warnings = list(reader.warnings)
        partial = bool(reader.partial)
        approximate = bool(getattr(reader, "approximate", False))
    if writer.frames_written == 0:
        if partial:
            raise VideoError(f"no frame could be decoded from {video_uri or video}: {'; '.join(warnings)}")
        warnings.append("no frame was sampled (check start/end against the video's duration)")
    total = time.perf_counter() - started
    frames = max(writer.frames_written, 1)
    model_info = {
        "name": predictor.spec.name,
        "task": predictor.spec.task,
        **predictor.weights_info,
        "device": predictor.device,
        "precision": getattr(predictor, "precision", options.precision),
        "framework": predictor.spec.framework,
    }
    if model_info.get("random_weights"):
        warnings.append(f"{predictor.spec.name} ran with RANDOM weights: its results are meaningless")
    warnings.extend(tracking_warnings(options))
    summary = RunSummary(
        video={"uri": video_uri or str(video), **info.to_dict()},
        model=model_info,
        params=options.to_dict(),
        frames_sampled=writer.frames_written,
        detections_total=writer.detections_total,
        counts_per_class=dict(sorted(writer.counts_per_class.items(), key=lambda kv: (-kv[1], kv[0]))),
        unique_objects_per_class=sink.write_tracks(out),
        timings=Timings(
            total=total,
            model_load=load_seconds,
            decode=timings.decode,
            inference=timings.inference,
            write=timings.write,
            inference_per_frame=timings.inference / frames,
            total_per_frame=total / frames,
        ),
        partial=partial,
        approximate=approximate,
        warnings=warnings,
        artifacts={"frames": FRAMES_FILE, "summary": SUMMARY_FILE, **extras.artifacts, **sink.artifacts},
        status="partial" if partial else "ok",
    )
    write_summary(out / SUMMARY_FILE, summary)
    return summary


class _Sink:
    """Where each predicted frame goes: the tracker (when tracking), the extras, then frames.jsonl.

    Tracking holds a frame back until the next one is known (reelsight.tracking), so the pictures
    and the line of a frame are written with its track IDs.
    """

    def __init__(self, writer: FramesWriter, extras: _Extras, options: RunOptions) -> None:
        self.writer = writer
        self.extras = extras
        self.keep_masks = "masks" in options.include
        self.tracker: FrameTracker[SampledFrame] | None = None
        self.artifacts: dict[str, str] = {}
        if options.track:
            from reelsight.tracking import FrameTracker

            self.tracker = FrameTracker(sampling_rate(options))

    def add(self, frame: SampledFrame, result: FrameResult) -> None:
        ready = self.tracker.push(result, frame) if self.tracker is not None else [(result, frame)]
        for done, image in ready:
            self._write(image, done)

    def finish(self) -> int:
        """Writes the frames still held back; returns how many."""
        held = self.tracker.finish() if self.tracker is not None else []
        for done, image in held:
            self._write(image, done)
        return len(held)

    def write_tracks(self, out: Path) -> dict[str, int] | None:
        """tracks.jsonl, and the unique objects per class; None when the run did not track."""
        if self.tracker is None:
            return None
        tracks = self.tracker.tracks
        write_tracks_jsonl(out / TRACKS_FILE, tracks)
        self.artifacts["tracks"] = TRACKS_FILE
        return unique_objects_per_class(tracks)

    def _write(self, frame: SampledFrame, result: FrameResult) -> None:
        self.extras.add(frame, result)
        if not self.keep_masks and result.detections is not None:
            result.detections.masks = None
        self.writer.write(result)


class _Extras:
    """The optional outputs chosen by ``options.include``, written frame by frame."""

    def __init__(self, out: Path, options: RunOptions, predictor: Predictor, video_fps: float) -> None:
        from reelsight import render

        self.out = out
        self.include = options.include
        self.classes: tuple[str, ...] = tuple(getattr(predictor, "classes", predictor.spec.classes))
        self.artifacts: dict[str, str] = {}
        self.sheet = render.ContactSheet(thumb_width=THUMB_WIDTH, max_items=MAX_THUMBS)
        self.preview: render.PreviewWriter | None = None
        rate = options.sampling.fps or (1.0 / options.sampling.interval)
        self.preview_fps = max(1.0, min(float(rate), float(video_fps) or 30.0))

    def add(self, frame: SampledFrame, result: FrameResult) -> None:
        from reelsight import render

        stem = frame_stem(result.frame_index)
        if "frames" in self.include:
            self._save_image(frame.image, f"{FRAMES_DIR}/{stem}.jpg", "frame_images", FRAMES_DIR)
        semantic = result.semantic
        if semantic is not None and semantic.class_map is not None and self.include & {"masks", "mask_pngs"}:
            rel = f"{CLASS_MAP_DIR}/{stem}.png"
            self._save_image(semantic.class_map, rel, "class_maps", CLASS_MAP_DIR)
            semantic.class_map_png = rel
        if "mask_pngs" in self.include:
            self._save_mask_png(result, f"{MASK_DIR}/{stem}.png")
        if "preview" in self.include:
            if self.preview is None:
                self.preview = render.PreviewWriter(self.out / PREVIEW, self.preview_fps)
            self.preview.write(frame.image, result, spec_classes=self.classes, transform=frame.transform)
        if "contact_sheet" in self.include:
            self.sheet.add(frame.image, result, spec_classes=self.classes, transform=frame.transform)

    def close(self) -> None:
        if self.preview is not None:
            self.preview.close()
            self.preview = None
            self.artifacts["preview"] = PREVIEW
        if len(self.sheet):
            self.sheet.save(self.out / CONTACT_SHEET)
            self.artifacts["contact_sheet"] = CONTACT_SHEET

    def _save_image(self, array: np.ndarray, rel: str, key: str, folder: str) -> None:
        from PIL import Image

        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".jpg"):
            Image.fromarray(array).save(path, quality=90)
        else:
            Image.fromarray(array).save(path)
        self.artifacts[key] = f"{folder}/"

    def _save_mask_png(self, result: FrameResult, rel: str) -> None:
        """Coloured classes (semantic), or instance ids 1..N with 0 for none (later ones win overlaps)."""
        from reelsight import render
        from reelsight.results import rle_to_mask

        if result.semantic is not None and result.semantic.class_map is not None:
            palette = render.semantic_palette(self.classes)
            image = render.colourize(result.semantic.class_map, palette)
        elif result.detections is not None and result.detections.masks is not None:
            image = np.zeros((result.height, result.width), dtype=np.uint8)
            for i, rle in enumerate(result.detections.masks[:255]):
                image[rle_to_mask(rle)] = i + 1
        else:
            return
        self._save_image(image, rel, "masks", MASK_DIR)
