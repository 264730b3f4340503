"""Jobs as the real producers leave them: the dispatcher records the upload, the pipeline writes the
results, the worker's ``output_fn`` uploads them and answers the async output body, the local async
endpoint notifies, and the results handler's ``apply_result`` writes the job record from that body
(tests/contract/job_chain.py). Nothing here spells a job or result field by hand.

``seed_viewer_job`` runs a scripted street scene (known boxes and masks per second) through
``reelsight.pipeline.run_video``; ``finish_async_job`` is the worker-and-results-handler half, for any
run directory (tests/api/test_api_http.py feeds it a real ssdlite run).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

from reelsight.contract.names import ASYNC_OUTPUT_PATH, FRAMES_FILE, JOBS_PREFIX, s3_uri
from reelsight.frames import SampledFrame
from reelsight.models.registry import get_spec
from reelsight.params import RunOptions, SamplingParams
from reelsight.pipeline import FRAMES_DIR, frame_stem, run_video
from reelsight.results import Detections, FrameResult, RunSummary, mask_to_rle, read_frames_jsonl
from reelsight.worker.artifacts import ArtifactStore
from reelsight.worker.config import DEFAULT_MAX_RESPONSE_BYTES
from reelsight.worker.handler import output_fn
from tests.api.support import ApiResources
from tests.contract.job_chain import JobChain

WIDTH, HEIGHT, FPS = 640, 360, 10
# Per second of video, sampled at 1 fps: (class, box) detections; the last frame's JPEG is removed.
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
    running_job_id: str  # a Processing job with progress reports, the newest of the three
    failed_job_id: str


@dataclass
class FinishedJob:
    job_id: str
    body: bytes  # the async output object, as output_fn answered it
    run_dir: Path  # what the pipeline wrote (summary.json rewritten with S3 links by output_fn)


def _scene_image(boxes: list[tuple[str, tuple[int, int, int, int]]], t: float) -> np.ndarray:
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
    return np.asarray(image)


def write_scene_video(path: Path) -> Path:
    """The scene as an H.264 clip: second ``s`` shows ``SCENE[s]``, a keyframe every second."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast", "g": str(FPS), "sc_threshold": "0"}
        for i in range(len(SCENE) * FPS):
            frame = av.VideoFrame.from_ndarray(_scene_image(SCENE[i // FPS], i / FPS), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _mask(box: tuple[int, int, int, int]) -> np.ndarray:
    x1, y1, x2, y2 = box
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1


class ScenePredictor:
    """A predictor (the interface run_video drives) that finds exactly the scene's objects."""

    def __init__(self) -> None:
        self.spec = get_spec("maskrcnn")
        self.classes = self.spec.classes
        self.weights_info = {
            "weights": "scene",
            "weights_source": "tests/api/viewer_job.py",
            "random_weights": False,
        }
        self.device = "cpu"
        self.precision = "fp32"

    def predict(self, frames: list[SampledFrame], *, with_masks: bool = True) -> list[FrameResult]:
        results = []
        rng = np.random.default_rng(3)
        for frame in frames:
            boxes = SCENE[round(frame.timestamp)]
            detections = Detections(
                xyxy=np.array([b for _, b in boxes], np.float32).reshape(-1, 4),
                labels=np.array([CLASS_IDS[n] for n, _ in boxes], np.int64),
                scores=rng.uniform(0.55, 0.99, len(boxes)).astype(np.float32),
                class_names=[n for n, _ in boxes],
                masks=[mask_to_rle(_mask(b)) for _, b in boxes] if with_masks else None,
            )
            results.append(FrameResult.from_frame(frame, detections=detections))
        return results


def job_chain(resources: ApiResources) -> JobChain:
    """The producers, writing to the API tests' table and buckets."""
    return JobChain.on_moto(
        resources.dynamodb.meta.endpoint_url,
        jobs_table=resources.table,
        input_bucket=resources.input_bucket,
        results_bucket=resources.results_bucket,
    )


def finish_async_job(
    resources: ApiResources, run_dir: Path, summary: RunSummary, key: str, options: dict[str, str]
) -> FinishedJob:
    """The dispatcher records the upload of ``key`` (with ``options`` as its metadata); the worker's
    output_fn uploads ``run_dir`` and answers; the results handler records what the endpoint notifies."""
    chain = job_chain(resources)
    queued = chain.upload(key, **options)
    store = ArtifactStore(resources.results_bucket, JOBS_PREFIX, client=resources.s3)
    body = output_fn(
        summary, run_dir, job_id=queued.job_id, store=store, max_response_bytes=DEFAULT_MAX_RESPONSE_BYTES
    )
    key = f"{ASYNC_OUTPUT_PATH}/{uuid.uuid4()}.out"
    resources.s3.put_object(Bucket=resources.results_bucket, Key=key, Body=body)
    chain.complete_async(queued, s3_uri(resources.results_bucket, key))
    return FinishedJob(job_id=queued.job_id, body=body, run_dir=run_dir)


def seed_viewer_job(resources: ApiResources, tmp_dir: Path) -> SeededJob:
    """Three jobs, oldest first: an upload that failed, the street scene that succeeded, and a
    Processing job still running with progress reports (420 of 1000 frames)."""
    chain = job_chain(resources)
    failed = chain.fail_async(chain.upload("incoming/notes.mp4"), "not a video: no video stream")
    options = RunOptions(
        model="maskrcnn",
        weights="scene",
        sampling=SamplingParams(fps=1.0),
        include=frozenset({"masks", "frames", "contact_sheet", "preview"}),
    )
    run_dir = tmp_dir / "run"
    key = "incoming/street.mp4"
    summary = run_video(
        write_scene_video(tmp_dir / "street.mp4"),
        options=options,
        out_dir=run_dir,
        predictor=ScenePredictor(),  # type: ignore[arg-type]
        video_uri=s3_uri(resources.input_bucket, key),
    )
    frames = list(read_frames_jsonl(run_dir / FRAMES_FILE))
    without_image = frames[-1].frame_index
    (run_dir / FRAMES_DIR / f"{frame_stem(without_image)}.jpg").unlink()  # a frame without its photo
    finished = finish_async_job(resources, run_dir, summary, key, {"model": "maskrcnn", "fps": "1"})
    running = chain.processing_started(chain.upload("incoming/long-drive.mp4", route="processing"))
    chain.report_progress(running, "part-1.mp4", 300, 500)
    chain.report_progress(running, "part-2.mp4", 120, 500)
    return SeededJob(
        job_id=finished.job_id,
        boxes_per_frame={f.frame_index: len(f.detections or []) for f in frames},
        frame_without_image=without_image,
        running_job_id=running.job_id,
        failed_job_id=failed.job_id,
    )
