"""A job while it runs, as the worker leaves it: progress entries through the contract's
``JobsTable.record_progress`` (``VideoProgress.to_json``), and result parts under
``names.part_key`` written by ``FramesWriter`` (so their concatenation is a frames.jsonl prefix)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reelsight.contract.jobs import JobRecord
from reelsight.contract.names import part_key
from reelsight.contract.progress import Stage, VideoProgress
from reelsight.results import Detections, FrameResult, FramesWriter
from tests.api.support import ApiResources
from tests.api.viewer_job import CLASS_IDS, HEIGHT, SCENE, WIDTH, job_chain

VIDEO = "long-drive.mp4"


def scene_frames(count: int) -> list[FrameResult]:
    """``count`` sampled frames (one a second, the street scene's boxes, repeating)."""
    frames = []
    for i in range(count):
        boxes = SCENE[i % len(SCENE)]
        detections = Detections(
            xyxy=np.array([b for _, b in boxes], np.float32).reshape(-1, 4),
            labels=np.array([CLASS_IDS[n] for n, _ in boxes], np.int64),
            scores=np.full(len(boxes), 0.9, np.float32),
            class_names=[n for n, _ in boxes],
        )
        frames.append(FrameResult(i * 10, float(i), WIDTH, HEIGHT, detections=detections, keyframe=True))
    return frames


@dataclass
class RunningJob:
    """A Processing job that is RUNNING, and what its worker wrote so far."""

    resources: ApiResources
    tmp_dir: Path
    job: JobRecord
    total: int
    parts: list[list[FrameResult]] = field(default_factory=list)

    @property
    def job_id(self) -> str:
        return self.job.job_id

    @property
    def frames_written(self) -> list[FrameResult]:
        return [frame for part in self.parts for frame in part]

    def write_part(self, frames: list[FrameResult]) -> str:
        """The next result part, as the worker writes it; returns its key."""
        self.parts.append(frames)
        path = self.tmp_dir / f"part-{len(self.parts)}.jsonl"
        with FramesWriter(path) as writer:
            writer.write_all(frames)
        key = part_key(self.job_id, len(self.parts))
        self.resources.s3.upload_file(str(path), self.resources.results_bucket, key)
        return key

    def report(
        self, stage: Stage, done: int, fps: float | None = None, eta: float | None = None
    ) -> JobRecord:
        entry = VideoProgress(
            stage=stage,
            frames_done=done,
            frames_total=self.total,
            decode_fps=None if fps is None else fps * 2,
            inference_fps=fps,
            eta_seconds=eta,
            parts=len(self.parts),
        )
        chain = job_chain(self.resources)
        chain.table.record_progress(self.job_id, VIDEO, done, self.total, entry=entry.to_json())
        return chain.job(self.job_id)


def start_running_job(resources: ApiResources, tmp_dir: Path, total: int) -> RunningJob:
    """The dispatcher records a Processing upload; EventBridge reports it InProgress."""
    chain = job_chain(resources)
    job = chain.processing_started(chain.upload(f"incoming/{tmp_dir.name}/{VIDEO}", route="processing"))
    return RunningJob(resources=resources, tmp_dir=tmp_dir, job=job, total=total)
