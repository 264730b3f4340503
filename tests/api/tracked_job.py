"""A tracked job as the real producers leave it: the dispatcher records an upload with ``track=true``,
the pipeline tracks the sliding boxes of a reelsight.testing clip, the worker's output_fn uploads the
results and the results handler records the job (tests/api/viewer_job.py's ``finish_async_job``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reelsight.contract.names import TRACKS_FILE, s3_uri
from reelsight.contract.options import resolve_run_options
from reelsight.contract.tracks import TrackSummary, read_tracks_jsonl
from reelsight.pipeline import run_video
from reelsight.testing.colour_boxes import ColourBoxes
from reelsight.testing.videos import write_video
from tests.api.support import ApiResources
from tests.api.viewer_job import FinishedJob, finish_async_job

UPLOAD_OPTIONS = {"track": "true"}


@dataclass
class TrackedJob:
    finished: FinishedJob
    tracks: list[TrackSummary]

    @property
    def job_id(self) -> str:
        return self.finished.job_id


def seed_tracked_job(resources: ApiResources, tmp_dir: Path) -> TrackedJob:
    clip = write_video(tmp_dir / "sliding.mp4", seconds=3, fps=10, width=160, height=120, gop=10)
    key = "incoming/sliding.mp4"
    options = resolve_run_options({}, {**UPLOAD_OPTIONS, "include": "masks+frames"})
    run_dir = tmp_dir / "tracked-run"
    summary = run_video(
        clip.path,
        options=options,
        out_dir=run_dir,
        predictor=ColourBoxes(),  # type: ignore[arg-type]
        video_uri=s3_uri(resources.input_bucket, key),
    )
    finished = finish_async_job(resources, run_dir, summary, key, UPLOAD_OPTIONS)
    return TrackedJob(finished, list(read_tracks_jsonl(run_dir / TRACKS_FILE)))
