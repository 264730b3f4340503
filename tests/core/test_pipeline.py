"""run_video: streaming, bounded read-ahead, artifacts, summary, errors."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from reelsight import pipeline
from reelsight.errors import VideoError
from reelsight.frames import SampledFrame, VideoReader
from reelsight.models.registry import get_spec
from reelsight.params import RunOptions, SamplingParams
from reelsight.results import (
    Detections,
    FrameResult,
    mask_to_rle,
    read_frames_jsonl,
    read_summary,
)
from reelsight.testing.videos import WrittenVideo, write_not_a_video, write_truncated


class FakePredictor:
    """One "person" box with a mask in the middle of every frame, in source pixels."""

    def __init__(self, delay: float = 0.0, fail_on_call: int | None = None) -> None:
        self.spec = get_spec("maskrcnn")
        self.classes = self.spec.classes
        self.weights_info = {"weights": "fake", "weights_source": "test", "random_weights": False}
        self.device = "cpu"
        self.precision = "fp32"
        self.delay = delay
        self.fail_on_call = fail_on_call
        self.calls: list[list[int]] = []
        self.on_call: Any = None

    def predict(self, frames: list[SampledFrame], *, with_masks: bool = True) -> list[FrameResult]:
        self.calls.append([f.index for f in frames])
        if self.on_call is not None:
            self.on_call(len(self.calls))
        if self.fail_on_call is not None and len(self.calls) == self.fail_on_call:
            raise RuntimeError("model blew up")
        time.sleep(self.delay)
        results = []
        for frame in frames:
            w, h = frame.source_size
            mask = np.zeros((h, w), bool)
            mask[h // 4 : h // 2, w // 4 : w // 2] = True
            det = Detections(
                xyxy=np.array([[w / 4, h / 4, w / 2, h / 2]]),
                labels=np.array([1]),
                scores=np.array([0.9]),
                class_names=["person"],
                masks=[mask_to_rle(mask)] if with_masks else None,
            )
            results.append(
                FrameResult(frame.index, frame.timestamp, w, h, detections=det, keyframe=frame.keyframe)
            )
        return results


def _options(**kwargs: Any) -> RunOptions:
    sampling = kwargs.pop("sampling", SamplingParams(fps=1.0))
    return RunOptions(model="maskrcnn", weights="random", sampling=sampling, **kwargs)


def test_streams_every_sampled_frame_and_summarises(clip_5s: WrittenVideo, tmp_path: Path) -> None:
    progress: list[tuple[int, int | None]] = []
    summary = pipeline.run_video(
        clip_5s.path,
        options=_options(batch_size=2),
        out_dir=tmp_path,
        predictor=FakePredictor(),
        progress=lambda done, total: progress.append((done, total)),
        video_uri="s3://bucket/clip.mp4",
    )
    frames = list(read_frames_jsonl(tmp_path / "frames.jsonl"))
    assert [f.frame_index for f in frames] == [0, 30, 60, 90, 120]
    assert [round(f.timestamp, 3) for f in frames] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert all(f.detections is not None and f.detections.masks for f in frames)
    assert progress == [(2, 5), (4, 5), (5, 5)]
    on_disk = read_summary(tmp_path / "summary.json")
    assert on_disk.to_json() == summary.to_json()
    assert summary.status == "ok" and not summary.partial
    assert summary.frames_sampled == 5 and summary.detections_total == 5
    assert summary.counts_per_class == {"person": 5}
    assert summary.video["uri"] == "s3://bucket/clip.mp4" and summary.video["width"] == 320
    assert summary.model["name"] == "maskrcnn" and summary.model["random_weights"] is False
    assert summary.params["sampling"]["fps"] == 1.0
    for key in ("total", "decode", "inference", "write", "inference_per_frame"):
        assert getattr(summary.timings, key) >= 0
    assert summary.artifacts["frames"] == "frames.jsonl"
    assert summary.artifacts["contact_sheet"] == "contact_sheet.png"
    assert Image.open(tmp_path / "contact_sheet.png").size[0] > 0


def test_extras_follow_include(clip_5s: WrittenVideo, tmp_path: Path) -> None:
    include = frozenset({"mask_pngs", "preview", "frames"})  # no "masks": RLE stays out of frames.jsonl
    summary = pipeline.run_video(
        clip_5s.path, options=_options(include=include), out_dir=tmp_path, predictor=FakePredictor()
    )
    assert "contact_sheet" not in summary.artifacts and not (tmp_path / "contact_sheet.png").exists()
    assert summary.artifacts["preview"] == "preview.mp4" and (tmp_path / "preview.mp4").stat().st_size > 0
    assert sorted(p.name for p in (tmp_path / "frames").iterdir())[0] == "frame_000000.jpg"
    ids = np.asarray(Image.open(tmp_path / "masks" / "frame_000030.png"))
    assert ids.shape == (240, 320) and ids[90, 120] == 1 and ids[0, 0] == 0
    frames = list(read_frames_jsonl(tmp_path / "frames.jsonl"))
    assert all(f.detections is not None and f.detections.masks is None for f in frames)


def test_random_weights_are_flagged_in_the_summary(clip_5s: WrittenVideo, tmp_path: Path) -> None:
    fake = FakePredictor()
    fake.weights_info = {"weights": "random", "weights_source": "random(seed=0)", "random_weights": True}
    summary = pipeline.run_video(
        clip_5s.path, options=_options(include=frozenset()), out_dir=tmp_path, predictor=fake
    )
    assert summary.model["random_weights"] is True
    assert any("RANDOM weights" in w for w in summary.warnings)


def test_decoding_runs_ahead_at_most_two_batches(
    long_clip: WrittenVideo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readers: list[VideoReader] = []
    real_open = pipeline.open_video

    def capture(path: Any, params: SamplingParams) -> VideoReader:
        readers.append(real_open(path, params))
        return readers[-1]

    monkeypatch.setattr(pipeline, "open_video", capture)
    fake = FakePredictor(delay=0.05)
    ahead: list[int] = []
    batch = 2

    def check(call: int) -> None:
        time.sleep(0.05)  # give the decoder every chance to run ahead
        ahead.append(readers[0].frames_yielded - call * batch)

    fake.on_call = check
    options = _options(batch_size=batch, include=frozenset(), sampling=SamplingParams(fps=5.0))
    summary = pipeline.run_video(long_clip.path, options=options, out_dir=tmp_path, predictor=fake)
    assert summary.frames_sampled == 50
    # Queue of two batches, plus one batch the decode thread holds while waiting to put it.
    assert max(ahead) <= (pipeline.QUEUE_BATCHES + 1) * batch
    assert max(ahead) >= batch  # it does read ahead (decode overlaps inference)


def test_model_failure_stops_the_decode_thread(long_clip: WrittenVideo, tmp_path: Path) -> None:
    before = {t.name for t in threading.enumerate()}
    with pytest.raises(RuntimeError, match="model blew up"):
        pipeline.run_video(
            long_clip.path,
            options=_options(batch_size=2, include=frozenset(), sampling=SamplingParams(fps=10.0)),
            out_dir=tmp_path,
            predictor=FakePredictor(fail_on_call=2),
        )
    deadline = time.monotonic() + 10
    while (
        "reelsight-decode" in {t.name for t in threading.enumerate()} - before and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert "reelsight-decode" not in {t.name for t in threading.enumerate()} - before


def test_decode_error_in_the_thread_reaches_the_caller(
    clip_5s: WrittenVideo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_batches = VideoReader.batches

    def failing(self: VideoReader, size: int) -> Any:
        batches = real_batches(self, size)
        yield next(batches)
        raise VideoError("decoder gave up")

    monkeypatch.setattr(VideoReader, "batches", failing)
    with pytest.raises(VideoError, match="decoder gave up"):
        pipeline.run_video(clip_5s.path, options=_options(), out_dir=tmp_path, predictor=FakePredictor())


def test_not_a_video_raises_video_error(tmp_path: Path) -> None:
    bad = write_not_a_video(tmp_path / "notes.mp4")
    with pytest.raises(VideoError):
        pipeline.run_video(bad, options=_options(), out_dir=tmp_path / "out", predictor=FakePredictor())


def test_truncated_video_gives_a_partial_summary(clip_5s: WrittenVideo, tmp_path: Path) -> None:
    cut = write_truncated(clip_5s.path, tmp_path / "cut.mp4", fraction=0.5)
    summary = pipeline.run_video(
        cut, options=_options(include=frozenset()), out_dir=tmp_path / "out", predictor=FakePredictor()
    )
    assert summary.partial and summary.status == "partial"
    assert 0 < summary.frames_sampled < 5
    assert read_summary(tmp_path / "out" / "summary.json").status == "partial"


@pytest.mark.slow
def test_real_semantic_model_writes_class_maps_in_source_pixels(
    clip_5s: WrittenVideo, tmp_path: Path
) -> None:
    from reelsight.models import load_predictor

    predictor = load_predictor("deeplabv3_mobilenet_v3", weights="random", device="cpu")
    options = RunOptions(
        model="deeplabv3_mobilenet_v3",
        weights="random",
        include=frozenset({"masks", "mask_pngs", "contact_sheet"}),
        sampling=SamplingParams(fps=1.0, max_frames=2, resize="fit", size=(96, 96)),
    )
    summary = pipeline.run_video(clip_5s.path, options=options, out_dir=tmp_path, predictor=predictor)
    assert summary.frames_sampled == 2 and summary.model["task"] == "semantic_segmentation"
    frames = list(read_frames_jsonl(tmp_path / "frames.jsonl"))
    assert (
        frames[0].semantic is not None and frames[0].semantic.class_map_png == "class_maps/frame_000000.png"
    )
    class_map = np.asarray(Image.open(tmp_path / "class_maps" / "frame_000000.png"))
    assert class_map.shape == (240, 320)
    assert sum(frames[0].semantic.fractions.values()) == pytest.approx(1.0, abs=1e-4)
    colour = np.asarray(Image.open(tmp_path / "masks" / "frame_000030.png"))
    assert colour.shape == (240, 320, 3)
