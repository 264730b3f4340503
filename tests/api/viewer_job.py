"""A completed job as the dispatcher, the results handler and the worker leave it: a jobs-table record,
the async output document, per-frame JPEGs, a contact sheet and a preview in the results bucket."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from reelsight.results import Detections, FrameResult, RunSummary, mask_to_rle, result_document
from reelsight.testing.videos import write_video
from tests.api.support import ApiResources

WIDTH, HEIGHT = 640, 360
# Per sampled frame (1 fps over 6 s): (class, box) detections; frame 5 has no JPEG on purpose.
SCENE: list[list[tuple[str, tuple[int, int, int, int]]]] = [
    [("car", (60, 200, 220, 290)), ("person", (400, 140, 450, 300))],
    [("car", (110, 205, 270, 292)), ("person", (390, 140, 440, 300)), ("dog", (470, 250, 540, 305))],
    [("car", (170, 210, 330, 295)), ("bicycle", (500, 200, 600, 300))],
    [],
    [("person", (300, 130, 352, 305)), ("person", (360, 135, 410, 305)), ("car", (40, 215, 200, 300)),
     ("truck", (420, 150, 630, 310))],
    [("dog", (250, 250, 330, 310))],
]  # fmt: skip
CLASS_IDS = {"person": 1, "bicycle": 2, "car": 3, "dog": 18, "truck": 8}
COLOURS = {"car": (200, 60, 50), "person": (60, 90, 180), "dog": (150, 110, 60), "bicycle": (40, 140, 90),
           "truck": (120, 120, 130)}  # fmt: skip


@dataclass
class SeededJob:
    job_id: str
    boxes_per_frame: dict[int, int]
    frame_without_image: int


def _scene_image(boxes: list[tuple[str, tuple[int, int, int, int]]], t: float) -> Image.Image:
    image = Image.new("RGB", (WIDTH, HEIGHT))
    draw = ImageDraw.Draw(image)
    for y in range(HEIGHT):  # sky, then road
        shade = (150 + y // 4, 185 + y // 6, 225) if y < 190 else (95, 98, 104)
        draw.line([(0, y), (WIDTH, y)], fill=shade)
    draw.rectangle([0, 186, WIDTH, 196], fill=(120, 150, 90))
    for x in range(0, WIDTH, 80):
        draw.rectangle([x + int(t * 20) % 80, 268, x + int(t * 20) % 80 + 40, 272], fill=(230, 230, 220))
    for name, (x1, y1, x2, y2) in boxes:
        if name == "person":
            draw.ellipse([x1 + 10, y1, x2 - 10, y1 + (x2 - x1) - 20], fill=COLOURS[name])
            draw.rounded_rectangle([x1 + 4, y1 + (x2 - x1) - 22, x2 - 4, y2], radius=10, fill=COLOURS[name])
        else:
            draw.rounded_rectangle([x1, y1 + (y2 - y1) // 4, x2, y2 - 10], radius=12, fill=COLOURS[name])
            draw.ellipse([x1 + 10, y2 - 25, x1 + 40, y2 + 5], fill=(30, 30, 30))
            draw.ellipse([x2 - 40, y2 - 25, x2 - 10, y2 + 5], fill=(30, 30, 30))
    return image


def _mask(box: tuple[int, int, int, int]) -> np.ndarray:
    x1, y1, x2, y2 = box
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def seed_viewer_job(resources: ApiResources, tmp_dir: Path, job_id: str = "7" * 32) -> SeededJob:
    prefix = f"jobs/{job_id}"
    bucket = resources.results_bucket
    frames: list[FrameResult] = []
    thumbnails: list[Image.Image] = []
    rng = np.random.default_rng(3)
    for second, boxes in enumerate(SCENE):
        index = second * 30
        image = _scene_image(boxes, float(second))
        detections = Detections(
            xyxy=np.array([b for _, b in boxes], np.float32).reshape(-1, 4),
            labels=np.array([CLASS_IDS[n] for n, _ in boxes], np.int64),
            scores=rng.uniform(0.55, 0.99, len(boxes)).astype(np.float32),
            class_names=[n for n, _ in boxes],
            masks=[mask_to_rle(_mask(b)) for _, b in boxes],
        )
        frames.append(
            FrameResult(index, float(second), WIDTH, HEIGHT, detections=detections, keyframe=second % 2 == 0)
        )
        if second != len(SCENE) - 1:
            resources.s3.put_object(
                Bucket=bucket, Key=f"{prefix}/artifacts/frames/frame_{index:06d}.jpg", Body=_jpeg(image)
            )
        thumbnails.append(image.resize((WIDTH // 4, HEIGHT // 4)))

    sheet = Image.new("RGB", (3 * WIDTH // 4, 2 * HEIGHT // 4), (40, 40, 40))
    for i, thumb in enumerate(thumbnails):
        sheet.paste(thumb, ((i % 3) * WIDTH // 4, (i // 3) * HEIGHT // 4))
    buffer = io.BytesIO()
    sheet.save(buffer, "PNG")
    resources.s3.put_object(
        Bucket=bucket, Key=f"{prefix}/artifacts/contact_sheet.png", Body=buffer.getvalue()
    )
    preview = write_video(tmp_dir / "preview.mp4", seconds=2, fps=10, width=320, height=180, gop=10)
    resources.s3.put_object(
        Bucket=bucket, Key=f"{prefix}/artifacts/preview.mp4", Body=preview.path.read_bytes()
    )

    counts: dict[str, int] = {}
    for _, boxes in enumerate(SCENE):
        for name, _box in boxes:
            counts[name] = counts.get(name, 0) + 1
    summary = RunSummary(
        video={"uri": "s3://input/incoming/street.mp4", "width": WIDTH, "height": HEIGHT, "fps": 30.0,
               "duration": 6.0, "frame_count": 180, "rotation": 0, "codec": "h264"},
        model={"name": "maskrcnn", "task": "instance_segmentation", "weights": "pretrained",
               "weights_source": "torchvision", "random_weights": False, "device": "cuda:0",
               "precision": "bf16"},
        params={"model": "maskrcnn", "sampling": {"fps": 1.0}},
        frames_sampled=len(frames),
        detections_total=sum(counts.values()),
        counts_per_class=counts,
        timings={"decode": 0.4, "inference": 2.1},
        artifacts={
            "contact_sheet": f"s3://{bucket}/{prefix}/artifacts/contact_sheet.png",
            "preview": f"s3://{bucket}/{prefix}/artifacts/preview.mp4",
            "frame_images": f"s3://{bucket}/{prefix}/artifacts/frames/",
        },
    )  # fmt: skip
    output = resources.put_json(f"{prefix}/output/{job_id}.out", result_document(summary, frames))
    resources.put_job(
        job_id=job_id,
        status="SUCCEEDED",
        route="async",
        source="s3://input/incoming/street.mp4",
        params={"model": "maskrcnn", "sampling": {"fps": 1.0}},
        created_at="2026-11-01T12:00:00.000Z",
        updated_at="2026-11-01T12:00:41.500Z",
        status_history=[
            {"status": "QUEUED", "at": "2026-11-01T12:00:00.000Z"},
            {"status": "RUNNING", "at": "2026-11-01T12:00:05.000Z"},
            {"status": "SUCCEEDED", "at": "2026-11-01T12:00:41.500Z"},
        ],
        durations={"queued_seconds": 5.0, "run_seconds": 36.5},
        output_location=output,
        summary=summary.to_json(),
    )
    resources.put_job(
        job_id="8" * 32,
        status="RUNNING",
        route="processing",
        source="s3://input/incoming/long-drive.mp4",
        created_at="2026-11-01T12:05:00.000Z",
        updated_at="2026-11-01T12:06:00.000Z",
        progress={
            "part-1.mp4": {"frames_done": 300, "frames_total": 500},
            "part-2.mp4": {"frames_done": 120, "frames_total": 500},
        },
    )
    resources.put_job(
        job_id="9" * 32,
        status="FAILED",
        route="async",
        source="s3://input/incoming/notes.mp4",
        reason="not a video: no video stream",
        created_at="2026-11-01T11:55:00.000Z",
        updated_at="2026-11-01T11:55:03.000Z",
    )
    return SeededJob(
        job_id=job_id,
        boxes_per_frame={second * 30: len(boxes) for second, boxes in enumerate(SCENE)},
        frame_without_image=(len(SCENE) - 1) * 30,
    )
