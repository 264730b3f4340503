"""Request and response bodies of the API (these models are what /openapi.json publishes)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from reelsight.contract.names import accepted_suffixes
from reelsight.contract.summary import ShortSummary, Timings

MAX_FRAMES = 1_000_000_000


class ErrorBody(BaseModel):
    detail: str = Field(description="What went wrong, for a person to read.")


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    version: str


class LiveProgress(BaseModel):
    """What the worker reports while a job runs (reelsight/contract/progress.py); null while unknown."""

    stage: Literal["loading", "running", "writing", "done"] | None = Field(
        default=None, description="loading (the model), running, writing (the artifacts) or done."
    )
    percent: float | None = Field(default=None, ge=0, le=100, description="0..100; null while no total.")
    decode_fps: float | None = Field(default=None, ge=0, description="Sampled frames decoded per second.")
    inference_fps: float | None = Field(
        default=None, ge=0, description="Frames through the model per second."
    )
    eta_seconds: float | None = Field(
        default=None, ge=0, description="Seconds left, as the worker estimates."
    )
    parts: int = Field(default=0, ge=0, description="Result parts written so far (see /frames).")


class VideoProgress(LiveProgress):
    frames_done: int = Field(ge=0)
    frames_total: int | None = Field(default=None, ge=0)
    updated_at: str | None = None


class Progress(LiveProgress):
    frames_done: int = Field(ge=0, description="Frames processed, summed over the job's videos.")
    frames_total: int | None = Field(
        default=None, description="Sum of the totals; null while any is unknown."
    )
    fraction: float | None = Field(default=None, ge=0, le=1, description="0..1; 1 once the job completed.")
    videos: dict[str, VideoProgress] = Field(default_factory=dict, description="Per video, by name.")


class WorkerSeconds(BaseModel):
    model_load: float | None = None
    decode: float | None = None
    inference: float | None = None
    total: float | None = None


class Receipt(BaseModel):
    """What the run cost (the summary's ``receipt``; reelsight/contract/cost.py)."""

    model_config = ConfigDict(extra="allow")
    instance_type: str | None = None
    region: str | None = None
    price_per_hour: float | None = Field(default=None, description="USD per instance-hour.")
    price_source: str | None = None
    worker_seconds: WorkerSeconds | None = None
    frames: int | None = None
    video_seconds: float | None = None
    cost: float | None = Field(default=None, description="USD; null when the price is unknown.")
    cost_per_video_hour: float | None = Field(default=None, description="USD per hour of video.")


class JobListItem(BaseModel):
    job_id: str
    status: str | None = None
    route: str | None = Field(default=None, description='How the job runs: "async" or "processing".')
    source: Any = Field(
        default=None, description="Where the input came from (as the dispatcher recorded it)."
    )
    created_at: str | None = Field(default=None, description="ISO 8601, UTC.")
    updated_at: str | None = Field(default=None, description="ISO 8601, UTC.")
    reason: str | None = Field(default=None, description="Why the job failed or was rejected.")
    progress: Progress


class JobList(BaseModel):
    items: list[JobListItem]
    next: str | None = Field(
        default=None, description="Pass as ?next= for the following page; null at the end."
    )


class Download(BaseModel):
    name: str = Field(description="Path relative to the job's folder in the results bucket.")
    key: str
    size: int = Field(ge=0)
    url: str = Field(description="Presigned GET URL.")


class BatchPart(BaseModel):
    """One part of a batch (a video) or split job (a time range)."""

    part_id: str = Field(description="The part's output folder (batch) or range-0001, ... (split).")
    video: str = Field(description="s3:// URI of the part's video.")
    state: Literal["done", "failed", "pending"] = Field(
        description="done: its completion marker is written; failed: its error record; pending: neither yet."
    )
    job_id: str | None = Field(default=None, description="A batch video's own job record.")
    status: str | None = Field(default=None, description="The status of that record.")
    reason: str | None = Field(default=None, description="Why the part failed.")
    progress: Progress | None = Field(default=None, description="Its live progress while it runs.")


class JobDetail(JobListItem):
    params: Any = Field(default=None, description="The run parameters the job was started with.")
    status_history: list[dict[str, Any]] = Field(default_factory=list)
    timings: Timings | None = Field(
        default=None,
        description="Seconds per phase of the run, as the pipeline measured them (summary.timings).",
    )
    durations: dict[str, float] = Field(
        default_factory=dict,
        description="Seconds of the job as the results handler measured them (total_seconds, "
        "endpoint_seconds, queue_seconds, processing_seconds), and elapsed_seconds: creation to the last "
        "update (to now while the job runs).",
    )
    summary: ShortSummary | None = Field(
        default=None, description="The run's short summary (the job record's), once there is one."
    )
    receipt: Receipt | None = Field(default=None, description="What the run cost, once it has a summary.")
    output_location: str | None = None
    links: dict[str, str] = Field(
        default_factory=dict,
        description="Presigned GET URLs by artifact (contact_sheet, preview, frames_jsonl, summary, ...).",
    )
    downloads: list[Download] = Field(default_factory=list)
    frame_images: dict[str, str] = Field(
        default_factory=dict, description="Presigned GET URLs of per-frame images, by frame index."
    )
    summary_url: str | None = Field(
        default=None, description="This API's path of the run summary (summary.json), once there is one."
    )
    frames_url: str | None = Field(
        default=None,
        description="This API's path of the frames (frames.jsonl, streamed), once there are any: while "
        "the job runs (or after it ended PARTIAL) the parts written so far, concatenated in order.",
    )
    frames_final: bool = Field(
        default=False, description="Whether frames_url streams the final frames.jsonl (else parts so far)."
    )
    extra: dict[str, Any] = Field(default_factory=dict, description="Other fields of the job record.")
    parts: list[BatchPart] | None = Field(
        default=None,
        description="A batch or split job's parts (from its plan.json, markers and error records); null "
        "for any other job. See docs/batch.md.",
    )


class ProgressReport(BaseModel):
    """One video's progress, as a Processing job reports it."""

    model_config = ConfigDict(extra="forbid", strict=True)
    video: str = Field(min_length=1, max_length=1024, pattern=r"^[^\x00-\x1f\x7f]+$")
    frames_done: int = Field(ge=0, le=MAX_FRAMES)
    frames_total: int | None = Field(default=None, ge=0, le=MAX_FRAMES)
    # The rest of a VideoProgress entry (reelsight.contract.progress); older reporters send none of it.
    stage: Literal["loading", "running", "writing", "done"] | None = None
    decode_fps: float | None = Field(default=None, ge=0, le=1e6)
    inference_fps: float | None = Field(default=None, ge=0, le=1e6)
    eta_seconds: float | None = Field(default=None, ge=0, le=1e9)
    parts: int | None = Field(default=None, ge=0, le=MAX_FRAMES)

    def entry(self) -> dict[str, Any]:
        """The stored progress entry (frames and the time stamp are added by the jobs table)."""
        fields = ("stage", "decode_fps", "inference_fps", "eta_seconds", "parts")
        return {name: getattr(self, name) for name in fields if getattr(self, name) is not None}

    @model_validator(mode="after")
    def _done_within_total(self) -> ProgressReport:
        if self.frames_total is not None and self.frames_done > self.frames_total:
            raise ValueError("frames_done must not exceed frames_total")
        return self


class ProgressAnswer(BaseModel):
    job_id: str
    video: str
    applied: bool = Field(description="False when the same frames_done was already stored (a retry).")
    progress: VideoProgress
    job_progress: Progress


class UploadOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    fps: float | None = Field(default=None, gt=0, le=1000, description="Samples per second of video time.")
    model: str | None = Field(
        default=None, min_length=1, max_length=64, description="A model name (maskrcnn, ...)."
    )
    track: bool | None = Field(
        default=None,
        description="Follow objects across frames (tracks.jsonl); at tracking's rate unless fps is given.",
    )
    content_type: str | None = Field(
        default=None,
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$",
        description="Content-Type of the upload; guessed from the suffix when left out.",
    )


def suffix_pattern(suffixes: tuple[str, ...]) -> str:
    """A case-insensitive "ends in one of these suffixes" pattern (JSON Schema regexes have no flags)."""
    alternatives = [
        "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in suffix.lstrip("."))
        for suffix in suffixes
    ]
    return r"^[\s\S]*\.(" + "|".join(alternatives) + ")$"


def upload_request_model(suffixes: tuple[str, ...]) -> type[UploadOptions]:
    """The upload request body; its filename must end in one of the accepted video suffixes.

    The pattern is documented in the schema but checked by the endpoint (``safe_filename``), so that a
    name the pipeline would not process gets a 400 naming the suffixes rather than a generic 422.
    """
    filename = Field(
        max_length=1024,
        json_schema_extra={"pattern": suffix_pattern(suffixes)},
        description=f"Name of the video (base name kept), ending in {accepted_suffixes(suffixes)}.",
    )
    model: type[UploadOptions] = create_model(
        "UploadRequest", __base__=UploadOptions, filename=(str, filename)
    )
    return model


class UploadTicket(BaseModel):
    url: str = Field(description="Presigned PUT URL.")
    method: str = Field(examples=["PUT"])
    headers: dict[str, str] = Field(description="Headers the PUT must carry exactly (they are signed).")
    bucket: str
    key: str
    s3_uri: str
    expires_in: int = Field(description="Seconds the URL stays valid.")


class SessionStarted(BaseModel):
    """The answer to a sign-in; the session itself is the ``Set-Cookie`` header."""

    expires_at: str = Field(description="When the session ends (ISO 8601 UTC).")
    expires_in: int = Field(ge=0, description="Seconds until then.")


class SessionEnded(BaseModel):
    ended: bool = Field(description="Whether a live session was ended (false: there was none).")


class BatchRequestBody(BaseModel):
    """The body of POST /v1/batches: a batch request document (docs/batch.md). Exactly one of videos,
    prefix or resume; the endpoint checks the rest and answers 400 naming what is wrong."""

    model_config = ConfigDict(extra="forbid")
    videos: list[str] | None = Field(
        default=None, description="s3:// URIs or keys of videos in the input bucket (one part each)."
    )
    prefix: str | None = Field(default=None, description="Every video under this s3:// URI or key prefix.")
    resume: str | None = Field(default=None, description="The id of a PARTIAL or FAILED job to rerun.")
    mode: str | None = Field(default=None, description="infer (default) or frames.")
    image_format: str | None = Field(default=None, description="jpg (default) or png, for frames mode.")
    options: dict[str, str | float] | None = Field(
        default=None, description="Run-option overrides (model, fps, every_seconds, size, ...)."
    )
    instance_count: int | None = Field(
        default=None, description="Processing instances, 1..100 (default: the deployment's)."
    )
    split: bool | None = Field(
        default=None, description="Cut the one video in videos into instance_count time ranges."
    )


class BatchAccepted(BaseModel):
    job_id: str | None = Field(
        description="The job the request starts (or resumes); null when the input bucket is unversioned "
        "and only the dispatcher can know it (find it by the request's source)."
    )
    request_key: str = Field(description="The request document written to the input bucket.")
    s3_uri: str
