"""``reelsight process``: the SageMaker Processing contract.

Reads ``resourceconfig.json`` (which host am I, among how many) and
``processingjobconfig.json`` (job name, inputs, environment), processes every video under
the input directory and writes, per video, ``<output>/<name>/`` with the results or an
``error.json``; a job-level manifest lists every video's outcome and the first 1 KB of the
message file becomes the job's ExitMessage. A job with a plan (its "plan" input) runs the plan's
parts instead (:mod:`reelsight.worker.planned`). Every /opt/ml path goes through
``container_path``, so ``REELSIGHT_OPT_ML_ROOT`` can stand for /opt/ml.
"""

from __future__ import annotations

import json
import logging
import os
import time
import traceback
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from reelsight import envvars
from reelsight.contract.batch import PLAN_CHANNEL, PLAN_FILE, VIDEO_CHANNEL, JobPlan
from reelsight.contract.batch import output_names as batch_output_names
from reelsight.contract.names import FRAMES_FILE, is_video_key, job_prefix, s3_location_or_none
from reelsight.contract.processing import container_path
from reelsight.contract.progress import VideoProgress
from reelsight.contract.settings import env_seconds
from reelsight.errors import ParamError, ReelsightError
from reelsight.params import RunOptions
from reelsight.tls import PinnedCertificate
from reelsight.worker.live import PartPolicy, PartUploader
from reelsight.worker.progress import ProgressReporter

log = logging.getLogger("reelsight.worker.process")

DEFAULT_RESOURCE_CONFIG = "/opt/ml/config/resourceconfig.json"
DEFAULT_JOB_CONFIG = "/opt/ml/config/processingjobconfig.json"
DEFAULT_INPUT = "/opt/ml/processing/input"
DEFAULT_OUTPUT = "/opt/ml/processing/output"
DEFAULT_MESSAGE = "/opt/ml/output/message"
MESSAGE_LIMIT = 1024

ProcessMode = Literal["infer", "frames"]


@dataclass(frozen=True)
class HostInfo:
    current_host: str = "algo-1"
    hosts: tuple[str, ...] = ("algo-1",)

    @property
    def index(self) -> int:
        return sorted(self.hosts).index(self.current_host)

    @property
    def count(self) -> int:
        return len(self.hosts)


def read_resource_config(path: Path) -> HostInfo:
    """Host name and peers; a missing file means one host (running outside SageMaker)."""
    if not path.is_file():
        return HostInfo()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        current = str(data["current_host"])
        hosts = tuple(str(h) for h in data["hosts"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ParamError(f"{path}: not a resource config ({exc!r})") from None
    if current not in hosts:
        raise ParamError(f"{path}: current_host {current!r} is not among hosts {list(hosts)}")
    return HostInfo(current_host=current, hosts=hosts)


def read_job_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ParamError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ParamError(f"{path}: expected a JSON object")
    return data


def job_input(
    job_config: Mapping[str, Any], input_dir: Path, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The S3Input whose LocalPath (as this process sees it) is ``input_dir``, or the only video
    input, else ``{}``."""
    inputs = [s3_input for _, s3_input in _video_inputs(job_config)]
    for s3_input in inputs:
        if Path(container_path(str(s3_input.get("LocalPath", "")), environ or {})) == input_dir:
            return s3_input
    return inputs[0] if len(inputs) == 1 else {}


def _video_inputs(job_config: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(InputName, S3Input) of every input but the plan, the video channel first."""
    found = [
        (str(item.get("InputName") or ""), item.get("S3Input") or {})
        for item in job_config.get("ProcessingInputs") or []
        if isinstance(item, dict) and item.get("InputName") != PLAN_CHANNEL
    ]
    return sorted(found, key=lambda named: named[0] != VIDEO_CHANNEL)


def read_plan(job_config: Mapping[str, Any], environ: Mapping[str, str]) -> JobPlan | None:
    """The job's plan (its "plan" input's plan.json); None without one; ParamError when unreadable."""
    for item in job_config.get("ProcessingInputs") or []:
        if isinstance(item, dict) and item.get("InputName") == PLAN_CHANNEL:
            local = str((item.get("S3Input") or {}).get("LocalPath") or "")
            path = Path(container_path(local, environ)) / PLAN_FILE
            try:
                return JobPlan.from_json(path.read_bytes())
            except (OSError, ValueError, TypeError) as exc:
                raise ParamError(f"the job plan {path} cannot be read: {exc}") from None
    return None


def list_videos(root: Path) -> list[Path]:
    """Every video under ``root``, as paths relative to it, in a stable (sorted) order."""
    if not root.is_dir():
        raise ParamError(f"input directory {root} does not exist")
    found = [p.relative_to(root) for p in root.rglob("*") if p.is_file() and is_video_key(p.name)]
    return sorted(found, key=lambda p: p.as_posix())


def shard(videos: list[Path], index: int, count: int) -> list[Path]:
    """Host ``index`` of ``count`` takes videos index, index + count, ...: disjoint, complete shares."""
    if count < 1 or not 0 <= index < count:
        raise ParamError(f"host index {index} is out of range for {count} host(s)")
    return videos[index::count]


def output_names(videos: list[Path]) -> dict[Path, str]:
    """Output folder per video: its stem, or its relative path flattened when stems collide (the
    rule of a batch plan's part ids)."""
    names = batch_output_names(p.as_posix() for p in videos)
    return {path: names[path.as_posix()] for path in videos}


@dataclass
class ProcessSettings:
    input_dir: Path
    output_dir: Path
    message_file: Path
    options: RunOptions
    mode: ProcessMode = "infer"
    custom_sharding: bool = False
    fail_on_any_error: bool = False
    image_format: str = "jpg"
    job_id: str = "local"
    host: HostInfo = field(default_factory=HostInfo)
    plan: JobPlan | None = None  # a batch or split job's plan (the "plan" input)
    plan_error: str | None = None  # why the plan the job names cannot be read
    attempt: int = 1  # which run of a batch or split job (REELSIGHT_ATTEMPT)
    input_uri: str | None = None  # S3 prefix the input directory mirrors, for video URIs
    distribution: str | None = None  # S3DataDistributionType of the input
    api_url: str | None = None
    api_token: str | None = None
    api_certificate: PinnedCertificate | None = None  # what the API host's TLS must match
    progress_interval: float = 2.0
    # Where a reelsight job's result parts go while it runs (its results bucket), and how often.
    parts_bucket: str | None = None
    part_policy: PartPolicy = field(default_factory=PartPolicy)


def settings_from_environment(
    environ: Mapping[str, str],
    *,
    overrides: Mapping[str, str],
    input_dir: str | None = None,
    output_dir: str | None = None,
    message_file: str | None = None,
    mode: ProcessMode | None = None,
    custom_sharding: bool = False,
    fail_on_any_error: bool = False,
    image_format: str | None = None,
    job_id: str | None = None,
) -> ProcessSettings:
    """Settings from the config files, the job's plan, the job's Environment, the process
    environment and flags (later ones win)."""
    from reelsight.contract.options import resolve_run_options

    def at(path: str) -> str:
        return container_path(path, environ)

    host = read_resource_config(Path(environ.get(envvars.RESOURCE_CONFIG) or at(DEFAULT_RESOURCE_CONFIG)))
    job_config = read_job_config(Path(environ.get(envvars.JOB_CONFIG) or at(DEFAULT_JOB_CONFIG)))
    job_env = job_config.get("Environment") or {}
    merged = {**{str(k): str(v) for k, v in job_env.items()}, **environ}
    plan, plan_error = _plan_or_error(job_config, environ)
    # The same resolution as the dispatcher's, so the job record states what runs here.
    options = resolve_run_options(merged, {**(plan.options if plan else {}), **overrides})
    local_in = _first_local_path(job_config)
    inp = Path(input_dir or at(merged.get(envvars.PROCESSING_INPUT) or local_in or DEFAULT_INPUT))
    s3_input = job_input(job_config, inp, environ)
    out = Path(
        output_dir
        or at(merged.get(envvars.PROCESSING_OUTPUT) or _first_output_path(job_config) or DEFAULT_OUTPUT)
    )
    job_id = job_id or (plan.job_id if plan else None)
    return ProcessSettings(
        input_dir=inp,
        output_dir=out,
        message_file=Path(message_file or at(merged.get(envvars.OUTPUT_MESSAGE) or DEFAULT_MESSAGE)),
        options=options,
        mode=mode or (plan.mode if plan else "infer"),
        custom_sharding=custom_sharding,
        fail_on_any_error=fail_on_any_error,
        image_format=image_format or (plan.image_format if plan else "jpg"),
        job_id=job_id or merged.get(envvars.JOB_ID) or str(job_config.get("ProcessingJobName") or "local"),
        host=host,
        plan=plan,
        plan_error=plan_error,
        attempt=_attempt(merged),
        input_uri=s3_input.get("S3Uri"),
        distribution=s3_input.get("S3DataDistributionType"),
        api_url=merged.get(envvars.API_URL) or None,
        api_token=_api_token(merged) if merged.get(envvars.API_URL) else None,
        api_certificate=_api_certificate(merged) if merged.get(envvars.API_URL) else None,
        progress_interval=env_seconds(merged, envvars.PROGRESS_INTERVAL, default=2.0),
        parts_bucket=_parts_bucket(job_config, job_id or merged.get(envvars.JOB_ID)),
        part_policy=PartPolicy.from_env(merged),
    )


def _plan_or_error(
    job_config: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[JobPlan | None, str | None]:
    try:
        return read_plan(job_config, environ), None
    except ParamError as exc:
        return None, str(exc)


def _attempt(environ: Mapping[str, str]) -> int:
    text = environ.get(envvars.ATTEMPT, "").strip()
    if not text:
        return 1
    if not text.isdigit() or int(text) < 1:
        raise ParamError(f"{envvars.ATTEMPT} must be a whole number from 1, got {text!r}")
    return int(text)


def _api_token(environ: Mapping[str, str]) -> str | None:
    """The API token from the environment, Secrets Manager or SSM; None (progress off) when unavailable."""
    from reelsight.api_token import token_source_from_env

    if environ.get(envvars.API_TOKEN):
        return environ[envvars.API_TOKEN]
    try:
        return token_source_from_env(environ).get() or None
    except Exception as exc:  # progress is best effort and must never fail the job
        log.warning("progress reports are off: no API token (%s)", exc)
        return None


def _api_certificate(environ: Mapping[str, str]) -> PinnedCertificate | None:
    """The API host's certificate to pin; None when none is configured or it cannot be read (logged:
    https reports then fail verification, and the job goes on)."""
    from reelsight.tls import pinned_from_env

    try:
        return pinned_from_env(environ)
    except ReelsightError as exc:
        log.warning("progress reports cannot verify the API host: %s", exc)
        return None


def _first_local_path(job_config: Mapping[str, Any]) -> str | None:
    for _, s3_input in _video_inputs(job_config):
        if s3_input.get("LocalPath"):
            return str(s3_input["LocalPath"])
    return None


def _parts_bucket(job_config: Mapping[str, Any], job_id: str | None) -> str | None:
    """The results bucket when this is a job reelsight started (its output is ``jobs/<id>/output/``)."""
    for item in (job_config.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
        location = s3_location_or_none(
            (item.get("S3Output") or {}).get("S3Uri") if isinstance(item, dict) else None
        )
        if job_id and location and location[1].startswith(job_prefix(job_id)):
            return location[0]
    return None


def _first_output_path(job_config: Mapping[str, Any]) -> str | None:
    for item in (job_config.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
        path = (item.get("S3Output") or {}).get("LocalPath") if isinstance(item, dict) else None
        if path:
            return str(path)
    return None


# --- the job ---------------------------------------------------------------------------------------------


@dataclass
class VideoOutcome:
    video: str
    output: str
    status: str  # ok | partial | failed
    frames: int = 0
    seconds: float = 0.0
    error: dict[str, str] | None = None
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "video": self.video,
            "output": self.output,
            "status": self.status,
            "frames": self.frames,
            "seconds": round(self.seconds, 3),
            "error": self.error,
            "warnings": self.warnings,
        }


LoadFn = Callable[[ProcessSettings], Any]
InferFn = Callable[[ProcessSettings, Path, Path, Any, Callable[[int, int | None], None]], Any]


def run_job(settings: ProcessSettings, *, load: LoadFn | None = None, infer: InferFn | None = None) -> int:
    """Process this host's share of the videos; returns the exit code.

    ``load(settings)`` builds the predictor and ``infer(settings, rel, out_dir, predictor,
    progress)`` runs one video and returns its RunSummary; the defaults use
    ``reelsight.models.load_predictor`` and ``reelsight.pipeline.run_video`` (another framework's
    image passes its own).
    """
    load = load or _load_predictor
    infer = infer or _infer
    if settings.plan_error:
        return fail_before_any_video(settings, settings.plan_error, 2)
    if settings.plan is not None:
        from reelsight.worker.planned import run_planned

        return run_planned(settings, settings.plan, load=load, infer=infer)
    started = time.monotonic()
    notes: list[str] = []
    try:
        everything = list_videos(settings.input_dir)
    except ReelsightError as exc:
        write_message(settings.message_file, f"reelsight process {settings.host.current_host}: {exc}")
        raise
    names = output_names(everything)
    mine = everything
    if settings.custom_sharding and settings.host.count > 1:
        if (settings.distribution or "").lower() == "shardedbys3key":
            notes.append("custom sharding skipped: the input is already ShardedByS3Key")
        else:
            mine = shard(everything, settings.host.index, settings.host.count)
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    log.info(
        "%s (%d/%d): %d of %d video(s), mode %s",
        settings.host.current_host,
        settings.host.index + 1,
        settings.host.count,
        len(mine),
        len(everything),
        settings.mode,
    )
    reporter = make_reporter(settings)
    outcomes: list[VideoOutcome] = []
    fatal: str | None = None
    fatal_code = 1
    try:
        predictor = load(settings) if mine and settings.mode == "infer" else None
        for rel in mine:
            parts = part_uploader(settings, names[rel], single=len(everything) == 1)
            outcomes.append(process_one(settings, rel, names[rel], predictor, reporter, infer, parts))
    except Exception as exc:  # the model cannot load: nothing can run
        if not isinstance(exc, ReelsightError):
            log.error("%s", traceback.format_exc())
        fatal = f"{type(exc).__name__}: {exc}"
        fatal_code = exc.exit_code if isinstance(exc, ReelsightError) else 1
    finally:
        if reporter is not None:
            reporter.close()
    counts = Counter(o.status for o in outcomes)
    write_manifest(settings, outcomes, counts, notes, fatal, time.monotonic() - started)
    message = job_message(settings, len(mine), outcomes, counts, notes, fatal)
    write_message(settings.message_file, message)
    print(message)
    if fatal:
        return fatal_code
    failed = counts.get("failed", 0)
    if outcomes and (failed == len(outcomes) or (settings.fail_on_any_error and failed)):
        return 1
    return 0


def make_reporter(settings: ProcessSettings) -> ProgressReporter | None:
    """Progress reports to the API host, when the job has one and a token."""
    if not (settings.api_url and settings.api_token):
        return None
    return ProgressReporter(
        settings.api_url,
        settings.api_token,
        settings.job_id,
        min_interval=settings.progress_interval,
        pinned=settings.api_certificate,
    )


def fail_before_any_video(settings: ProcessSettings, reason: str, code: int) -> int:
    """The job cannot start (its plan, its options): the reason as ExitMessage, and ``code``."""
    message = f"reelsight process {settings.host.current_host}: {reason}"
    log.error("%s", message)
    write_message(settings.message_file, message)
    print(message)
    return code


def _load_predictor(settings: ProcessSettings) -> Any:
    from reelsight.models import load_predictor

    opts = settings.options
    return load_predictor(
        opts.model,
        weights=opts.weights,
        device=opts.device,
        precision=opts.precision,
        score_threshold=opts.score_threshold,
        seed=0,
    )


def process_one(
    settings: ProcessSettings,
    rel: Path,
    name: str,
    predictor: Any,
    reporter: ProgressReporter | None,
    infer: InferFn,
    parts: PartUploader | None = None,
    *,
    out_dir: Path | None = None,
    report_as: str | None = None,
) -> VideoOutcome:
    """Run one video into ``out_dir`` (default: ``<output>/<name>``); progress goes to the API as
    ``report_as`` (default: the video's relative path)."""
    video = rel.as_posix()
    out_dir = out_dir or settings.output_dir / name
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    label = report_as or video

    progress = _VideoReports(reporter, label, parts)
    try:
        if settings.mode == "frames":
            frames, partial, warnings = _extract_frames(settings, settings.input_dir / rel, out_dir, progress)
            status = "partial" if partial else "ok"
        else:
            summary = infer(settings, rel, out_dir, predictor, progress)
            frames, warnings = summary.frames_sampled, list(summary.warnings)
            status = summary.status
            if status == "failed":
                raise RuntimeError(summary.error or "the run failed")
    except Exception as exc:  # one bad video must not stop the others
        progress.finish()  # the frames done before the failure stay readable
        if not isinstance(exc, ReelsightError):
            log.error("%s failed:\n%s", video, traceback.format_exc())
        error = {"type": type(exc).__name__, "message": str(exc) or type(exc).__name__}
        outcome = VideoOutcome(video, name, "failed", seconds=time.monotonic() - started, error=error)
        (out_dir / "error.json").write_text(json.dumps(outcome.to_json(), indent=2) + "\n", encoding="utf-8")
        log.warning("%s: %s: %s", video, error["type"], error["message"])
        return outcome
    parts_done = progress.finish()
    if reporter is not None:
        reporter.update(label, frames, frames, final=True, entry={"stage": "done", "parts": parts_done})
    log.info("%s: %s, %d frame(s) in %.1fs", video, status, frames, time.monotonic() - started)
    return VideoOutcome(
        video, name, status, frames=frames, seconds=time.monotonic() - started, warnings=warnings
    )


class _VideoReports:
    """One video's progress for the reporter: frame counts from any pipeline (``progress(done,
    total)``), and full snapshots (stage, rates, ETA) from ``run_video``, which then take over; with
    ``parts``, the frames written so far also go to S3 as ordered result parts."""

    def __init__(self, reporter: ProgressReporter | None, video: str, parts: PartUploader | None) -> None:
        self._reporter = reporter
        self._video = video
        self._parts = parts
        self._snapshots = False
        self._frames_done = 0

    def __call__(self, done: int, total: int | None) -> None:
        if self._reporter is not None and not self._snapshots:
            self._reporter.update(self._video, done, total)

    def snapshot(self, progress: VideoProgress) -> None:
        self._snapshots = True
        self._frames_done = progress.frames_done
        try:
            if self._parts is not None and progress.stage == "running":
                self._parts.maybe_upload(progress.frames_done)
        except Exception as exc:  # never fail the video for its parts
            log.warning("result part failed: %s", exc)
        if self._reporter is not None:
            entry = {**progress.to_json(), "parts": self._parts.parts if self._parts else 0}
            self._reporter.update(self._video, progress.frames_done, progress.frames_total, entry=entry)

    def finish(self) -> int:
        """Upload the frames not yet in a part; the number of parts written."""
        if self._parts is None:
            return 0
        try:
            self._parts.upload(self._frames_done)
        except Exception as exc:
            log.warning("last result part failed: %s", exc)
        return self._parts.parts


def part_uploader(settings: ProcessSettings, name: str, *, single: bool) -> PartUploader | None:
    """Result parts for a job of one video that reelsight started (a batch of several has no single
    frames.jsonl to mirror, so it writes none)."""
    if not (single and settings.parts_bucket and settings.mode == "infer"):
        return None
    import boto3

    frames = settings.output_dir / name / FRAMES_FILE
    return PartUploader(
        boto3.client("s3"), settings.parts_bucket, settings.job_id, frames, policy=settings.part_policy
    )


def _infer(settings: ProcessSettings, rel: Path, out_dir: Path, predictor: Any, progress: Any) -> Any:
    from reelsight.contract.cost import receipt_from_environment
    from reelsight.contract.names import SUMMARY_FILE
    from reelsight.pipeline import run_video
    from reelsight.results import write_summary

    uri = f"{settings.input_uri.rstrip('/')}/{rel.as_posix()}" if settings.input_uri else rel.as_posix()
    summary = run_video(
        settings.input_dir / rel,
        options=settings.options,
        out_dir=out_dir,
        predictor=predictor,
        progress=progress,
        snapshot=getattr(progress, "snapshot", None),
        video_uri=uri,
    )
    summary.receipt = receipt_from_environment(summary, os.environ)  # what this video cost
    write_summary(out_dir / SUMMARY_FILE, summary)
    return summary


def _extract_frames(
    settings: ProcessSettings, path: Path, out_dir: Path, progress: Any
) -> tuple[int, bool, list[str]]:
    """Sampled frames as images plus ``index.jsonl`` (one line per image); no model."""
    from PIL import Image

    from reelsight.frames import open_video

    sampling = settings.options.sampling
    frames_dir = out_dir / "frames"
    frames_dir.mkdir(exist_ok=True)
    count = 0
    with open_video(path, sampling) as reader, (out_dir / "index.jsonl").open("w", encoding="utf-8") as index:
        total = reader.expected_count
        for frame in reader.frames():
            file_name = f"frame_{frame.index:07d}.{settings.image_format}"
            image = Image.fromarray(frame.image)
            if settings.image_format == "jpg":
                image.save(frames_dir / file_name, quality=90)
            else:
                image.save(frames_dir / file_name)
            record = {
                "file": f"frames/{file_name}",
                "frame_index": frame.index,
                "timestamp": round(frame.timestamp, 6),
                "keyframe": frame.keyframe,
                "width": frame.image.shape[1],
                "height": frame.image.shape[0],
            }
            index.write(json.dumps(record) + "\n")
            count += 1
            progress(count, total)
        return count, bool(reader.partial), list(reader.warnings)


def manifest_path(settings: ProcessSettings) -> Path:
    # One file per host when several hosts upload to the same S3 prefix.
    name = "manifest.json" if settings.host.count == 1 else f"manifest-{settings.host.current_host}.json"
    return settings.output_dir / name


def write_manifest(
    settings: ProcessSettings,
    outcomes: list[VideoOutcome],
    counts: Counter[str],
    notes: list[str],
    fatal: str | None,
    seconds: float,
) -> None:
    manifest = {
        "job_id": settings.job_id,
        "host": settings.host.current_host,
        "hosts": list(settings.host.hosts),
        "mode": settings.mode,
        "options": settings.options.to_dict(),
        "counts": {k: counts.get(k, 0) for k in ("ok", "partial", "failed")},
        "error": fatal,
        "notes": notes,
        "seconds": round(seconds, 3),
        "videos": [o.to_json() for o in outcomes],
    }
    path = manifest_path(settings)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def job_message(
    settings: ProcessSettings,
    assigned: int,
    outcomes: list[VideoOutcome],
    counts: Counter[str],
    notes: list[str],
    fatal: str | None,
) -> str:
    host = f"{settings.host.current_host} ({settings.host.index + 1}/{settings.host.count})"
    if fatal:
        return f"reelsight process {host}: failed before any video: {fatal}"
    text = (
        f"reelsight process {host}: {assigned} video(s): {counts.get('ok', 0)} ok, "
        f"{counts.get('partial', 0)} partial, {counts.get('failed', 0)} failed"
    )
    failures = [f"{o.video} ({o.error['type']}: {o.error['message']})" for o in outcomes if o.error]
    if failures:
        text += ". Failed: " + "; ".join(failures)
    if notes:
        text += ". " + "; ".join(notes)
    return text


def write_message(path: Path, message: str) -> None:
    """The first 1 KB of this file becomes the job's ExitMessage; keep it within that."""
    data = message.encode("utf-8")
    if len(data) > MESSAGE_LIMIT:
        data = data[: MESSAGE_LIMIT - 3].decode("utf-8", errors="ignore").encode("utf-8") + b"..."
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        log.warning("cannot write the message file %s: %s", path, exc)
