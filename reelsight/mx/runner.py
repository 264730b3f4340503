"""One video through an MXNet predictor: the same files and schema as ``reelsight.pipeline``."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reelsight.frames import open_video
from reelsight.params import RunOptions
from reelsight.results import FrameResult, FramesWriter, RunSummary, write_summary

CLASS_MAP_DIR = "class_maps"
MASK_DIR = "masks"
# Outputs of the torch pipeline this backend does not draw.
_NOT_RENDERED = ("contact_sheet", "preview", "frames")


def frame_stem(frame_index: int) -> str:
    return f"frame_{frame_index:06d}"


def run_video_mx(
    video: str | Path,
    *,
    options: RunOptions,
    out_dir: str | Path,
    predictor: Any,
    progress: Callable[[int, int | None], None] | None = None,
    video_uri: str | None = None,
) -> RunSummary:
    """Sample ``video``, predict in batches, write frames.jsonl, PNGs and summary.json to ``out_dir``.

    Raises VideoError/UnsupportedMediaError for inputs that cannot be decoded; a video that
    breaks off midway gives ``status="partial"``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    infer_seconds = 0.0
    write_seconds = 0.0
    colour_masks = bool({"masks", "mask_pngs"} & options.include)
    artifacts: dict[str, str] = {"frames": "frames.jsonl", "summary": "summary.json"}
    with open_video(video, options.sampling) as reader, FramesWriter(out / "frames.jsonl") as writer:
        expected = reader.expected_count
        for batch in reader.batches(options.batch_size):
            t0 = time.perf_counter()
            results = predictor.predict(batch, with_masks="masks" in options.include)
            t1 = time.perf_counter()
            for result in results:
                if result.semantic is not None and result.semantic.class_map is not None:
                    _write_pngs(out, result, predictor, colour_masks, artifacts)
                writer.write(result)
            write_seconds += time.perf_counter() - t1
            infer_seconds += t1 - t0
            if progress is not None:
                progress(writer.frames_written, expected)
        info = reader.info
        partial = reader.partial
        warnings = list(reader.warnings)
        approximate = bool(getattr(reader, "approximate", False))
    skipped = sorted(set(options.include) & set(_NOT_RENDERED))
    if skipped:
        warnings.append(f"the MXNet backend does not render: {', '.join(skipped)}")
    if writer.frames_written == 0:
        warnings.append("no frame was sampled (check start/end against the video's duration)")
    total = time.perf_counter() - started
    summary = RunSummary(
        video={"uri": video_uri or str(video), **info.to_dict()},
        model={
            "name": predictor.spec.name,
            "task": predictor.spec.task,
            **predictor.weights_info,
            "device": predictor.device,
            "precision": "fp32",
            "framework": "mxnet",
        },
        params=options.to_dict(),
        frames_sampled=writer.frames_written,
        detections_total=writer.detections_total,
        counts_per_class=dict(writer.counts_per_class),
        timings={
            "total": total,
            "inference": infer_seconds,
            "write": write_seconds,
            "decode": max(total - infer_seconds - write_seconds, 0.0),
        },
        partial=partial,
        approximate=approximate,
        warnings=warnings,
        artifacts=artifacts,
        status="partial" if partial else "ok",
    )
    write_summary(out / "summary.json", summary)
    return summary


def _write_pngs(
    out: Path, result: FrameResult, predictor: Any, colour: bool, artifacts: dict[str, str]
) -> None:
    from PIL import Image

    assert result.semantic is not None and result.semantic.class_map is not None
    stem = frame_stem(result.frame_index)
    class_map = result.semantic.class_map
    rel = f"{CLASS_MAP_DIR}/{stem}.png"
    (out / CLASS_MAP_DIR).mkdir(exist_ok=True)
    Image.fromarray(class_map).save(out / rel)
    result.semantic.class_map_png = rel
    artifacts["class_maps"] = f"{CLASS_MAP_DIR}/"
    if colour and hasattr(predictor, "colourise"):
        (out / MASK_DIR).mkdir(exist_ok=True)
        predictor.colourise(class_map).save(out / MASK_DIR / f"{stem}.png")
        artifacts["masks"] = f"{MASK_DIR}/"
