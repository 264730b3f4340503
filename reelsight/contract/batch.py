"""Batch and long-video Processing jobs, defined once: the request a user writes, the plan a job
runs, where each part's results and completion marker go, and how the parts roll up.

Two kinds of job run as one SageMaker Processing job over N instances:

* **batch**: many videos (an explicit list or a prefix). The job's input is a ``ManifestFile``
  naming exactly those objects, sharded over the hosts with ``ShardedByS3Key``; each video is one
  part, with a job record of its own (:func:`part_job_id`).
* **split**: one long video cut by time into ``ranges`` parts. Every host receives the video
  (``FullyReplicated``); each probes it and computes the same ranges (:func:`split_ranges`), aligned
  to the run's sampling grid so no sample is lost or doubled at a boundary. The host that writes
  the last range marker merges the ranges into one ``frames.jsonl`` and ``summary.json``.

Each part that finishes writes its results, then a completion marker (:class:`PartMarker`); a part
that fails writes an error record (:class:`PartError`) instead. A rerun (a *resume*) of the same job
runs only the parts without a marker, under a new attempt number (:func:`attempt_job_name`).

Results bucket layout, per job (``jobs/<job_id>/``, see :mod:`reelsight.contract.names`)::

    plan.json                        plan_key: the JobPlan every host reads (input channel "plan")
    input-<attempt>.manifest         manifest_key: the ManifestFile of a batch attempt
    output/<part_id>/                part_prefix for a batch video: its results,
    output/<part_id>/_done.json        its completion marker,
    output/<part_id>/error.json        or its error record
    ranges/<range-0001>/...          part_prefix for a time range (frames.jsonl, summary.json, marker)
    output/<video name>/             merged_prefix: a split job's merged frames.jsonl and summary.json,
                                     and the per-frame artifacts (mask PNGs, ...) every range writes

Standard library only.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

from reelsight.contract.names import (
    BATCH_PREFIX,
    PROCESSING_JOB_PREFIX,
    VIDEO_SUFFIXES,
    is_video_key,
    job_prefix,
    output_prefix,
    s3_uri,
    split_s3_uri,
)
from reelsight.errors import ParamError

JobKind = Literal["batch", "split"]
JOB_KINDS: tuple[str, ...] = get_args(JobKind)
Mode = Literal["infer", "frames"]
MODES: tuple[str, ...] = get_args(Mode)
IMAGE_FORMATS = ("jpg", "png")

# The upload-triggered form: a batch request document under the batch prefix.
BATCH_REQUEST_SUFFIX = ".batch.json"
PLAN_FILE = "plan.json"
MARKER_FILE = "_done.json"
ERROR_FILE = "error.json"
RANGES_FOLDER = "ranges/"
RANGE_PART_PREFIX = "range-"
# Processing input channels (LocalPath under /opt/ml/processing/input/) and their names.
VIDEO_CHANNEL = "video"
PLAN_CHANNEL = "plan"
PLAN_INPUT_DIR = "/opt/ml/processing/input/plan"
# A resumed job's Processing job name: reelsight-<job id>--a<attempt> (attempt 1 has no suffix).
ATTEMPT_SEPARATOR = "--a"
MAX_PARTS = 10_000
MAX_INSTANCES = 100
SAMPLE_EPSILON = 1e-6  # the sampler's tolerance (reelsight.frames.EPSILON)


# --- names -------------------------------------------------------------------------------------------


def is_batch_request_key(key: str) -> bool:
    return key.lower().endswith(BATCH_REQUEST_SUFFIX)


_REQUEST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# The job statuses a resume accepts (a job whose parts did not all finish).
RESUMABLE_STATUSES = ("PARTIAL", "FAILED")


def request_key(name: str) -> str:
    """``batch/<name>.batch.json``: where a named request document goes in the input bucket."""
    if not _REQUEST_NAME.match(name) or name.lower().endswith(BATCH_REQUEST_SUFFIX):
        raise ParamError(
            "a batch request name is 1-128 letters, digits, '.', '_' or '-', starting with a letter or "
            f"digit, without the {BATCH_REQUEST_SUFFIX} suffix; got {name!r}"
        )
    return f"{BATCH_PREFIX}{name}{BATCH_REQUEST_SUFFIX}"


def request_name(stem: str) -> str:
    """A fresh request document name: ``<stem>-<UTC time>-<random>``."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"{stem}-{stamp}-{uuid.uuid4().hex[:8]}"


def plan_key(job_id: str) -> str:
    return job_prefix(job_id) + PLAN_FILE


def manifest_key(job_id: str, attempt: int) -> str:
    return f"{job_prefix(job_id)}input-{attempt}.manifest"


def is_job_input(name: str) -> bool:
    """Whether ``name`` (relative to ``jobs/<id>/``) is what the dispatcher wrote for the job to read
    (its plan or a manifest), rather than a result."""
    return name == PLAN_FILE or bool(re.fullmatch(r"input-\d+\.manifest", name))


def range_part_id(index: int) -> str:
    """``range-0001``: range ``index`` (0-based) of a split job, 1-based in its name so it sorts."""
    return f"{RANGE_PART_PREFIX}{index + 1:04d}"


def part_prefix(job_id: str, part_id: str) -> str:
    """Where one part's results, marker and error record go."""
    if part_id.startswith(RANGE_PART_PREFIX):
        return f"{job_prefix(job_id)}{RANGES_FOLDER}{part_id}/"
    return f"{output_prefix(job_id)}{part_id}/"


def marker_key(job_id: str, part_id: str) -> str:
    return part_prefix(job_id, part_id) + MARKER_FILE


def error_key(job_id: str, part_id: str) -> str:
    return part_prefix(job_id, part_id) + ERROR_FILE


def merged_prefix(job_id: str, video_name: str) -> str:
    """A split job's merged result, where a one-host job of that video would write it."""
    return f"{output_prefix(job_id)}{video_name}/"


def split_result_prefix(plan: JobPlan) -> str:
    """:func:`merged_prefix` of a split plan's video: its stem, the folder a one-video job names it."""
    relative = plan.parts[0].relative_path
    return merged_prefix(plan.job_id, output_names([relative])[relative])


def part_job_id(batch_id: str, index: int) -> str:
    """The job record of video ``index`` (0-based) of a batch: ``<batch id>-0001``."""
    return f"{batch_id}-{index + 1:04d}"


def attempt_job_name(job_id: str, attempt: int = 1) -> str:
    """The Processing job name of one attempt: ``reelsight-<id>``, then ``reelsight-<id>--a2``, ..."""
    if attempt < 1:
        raise ValueError(f"attempts start at 1, got {attempt}")
    base = f"{PROCESSING_JOB_PREFIX}{job_id}"
    return base if attempt == 1 else f"{base}{ATTEMPT_SEPARATOR}{attempt}"


def attempt_of(name: str) -> tuple[str, int] | None:
    """``(job id, attempt)`` of a Processing job name reelsight gave; None for any other job."""
    if not name.startswith(PROCESSING_JOB_PREFIX):
        return None
    rest = name[len(PROCESSING_JOB_PREFIX) :]
    job_id, separator, number = rest.rpartition(ATTEMPT_SEPARATOR)
    if separator and number.isdigit() and job_id:
        return job_id, int(number)
    return (rest, 1) if rest else None


def output_names(relative_paths: Iterable[str]) -> dict[str, str]:
    """One output folder per video (the same on every host): its stem, or its relative path
    flattened when stems collide."""
    paths = list(relative_paths)
    stems = Counter(_stem(p) for p in paths)
    names: dict[str, str] = {}
    for path in paths:
        if stems[_stem(path)] == 1:
            names[path] = _stem(path)
        else:
            parent, base = posixpath.split(path)
            names[path] = "__".join([*(p for p in parent.split("/") if p), base.replace(".", "_")])
    return names


def _stem(path: str) -> str:
    base = posixpath.basename(path)
    return base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base


# --- the request a user writes ------------------------------------------------------------------------

_REQUEST_FIELDS = frozenset(
    {"videos", "prefix", "mode", "image_format", "options", "instance_count", "split", "resume"}
)
_SAFE_VALUE = re.compile(r"^[^,;=\x00-\x1f]*$")


@dataclass(frozen=True, kw_only=True)
class BatchRequest:
    """A batch request document (``batch/<name>.batch.json``, ``reelsight batch``, ``POST /v1/batches``).

    Exactly one of ``videos`` (s3:// URIs or keys in the input bucket), ``prefix`` (every video under
    it) or ``resume`` (the job id of a batch or split job to rerun). ``options`` are run-option
    overrides, the same keys an upload's metadata takes (model, fps, every_seconds, size, crop, ...).
    ``split`` cuts the one video named in ``videos`` into ``instance_count`` time ranges.
    """

    videos: tuple[str, ...] = ()
    prefix: str | None = None
    resume: str | None = None
    mode: Mode = "infer"
    image_format: str = "jpg"
    options: dict[str, str] = field(default_factory=dict)
    instance_count: int | None = None  # None: the deployment's Processing instance count
    split: bool = False

    def __post_init__(self) -> None:
        given = [name for name in ("videos", "prefix", "resume") if getattr(self, name)]
        if len(given) != 1:
            raise ParamError(
                f"a batch request names exactly one of videos, prefix or resume, got {given or 'none'}"
            )
        if self.mode not in MODES:
            raise ParamError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.image_format not in IMAGE_FORMATS:
            raise ParamError(
                f"image_format must be one of {', '.join(IMAGE_FORMATS)}, got {self.image_format!r}"
            )
        if self.instance_count is not None and not 1 <= self.instance_count <= MAX_INSTANCES:
            raise ParamError(f"instance_count must be 1..{MAX_INSTANCES}, got {self.instance_count}")
        if len(self.videos) > MAX_PARTS:
            raise ParamError(f"a batch holds at most {MAX_PARTS} videos, got {len(self.videos)}")
        if self.split and len(self.videos) != 1:
            raise ParamError("split cuts one video by time: name exactly one video in videos")
        for name, value in self.options.items():
            if not _SAFE_VALUE.match(value):
                raise ParamError(
                    f"options.{name}: values must not contain ',', ';', '=' or control characters"
                )

    def to_json(self) -> str:
        data = asdict(self)
        data["videos"] = list(self.videos)
        return json.dumps({k: v for k, v in data.items() if v not in (None, (), [], {}, False)}, indent=2)

    @classmethod
    def from_json(cls, text: str | bytes) -> BatchRequest:
        """The request a document states; ParamError naming what is wrong."""
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as error:
            raise ParamError(f"a batch request must be JSON: {error}") from None
        if not isinstance(data, dict):
            raise ParamError("a batch request must be a JSON object")
        unknown = set(data) - _REQUEST_FIELDS
        if unknown:
            raise ParamError(
                f"unknown batch request fields {sorted(unknown)}; known: {sorted(_REQUEST_FIELDS)}"
            )
        return cls(
            videos=tuple(_strings(data.get("videos"), "videos")),
            prefix=_optional_text(data.get("prefix"), "prefix"),
            resume=_optional_text(data.get("resume"), "resume"),
            mode=_text_or(data.get("mode"), "mode", "infer"),  # type: ignore[arg-type]
            image_format=_text_or(data.get("image_format"), "image_format", "jpg"),
            options=_options(data.get("options")),
            instance_count=_optional_int(data.get("instance_count"), "instance_count"),
            split=_bool(data.get("split"), "split"),
        )


def _strings(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ParamError(f"{name} must be a list of non-empty strings")
    return list(value)


def _optional_text(value: Any, name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ParamError(f"{name} must be a string, got {value!r}")
    return value


def _text_or(value: Any, name: str, default: str) -> str:
    return _optional_text(value, name) or default


def _optional_int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParamError(f"{name} must be a whole number, got {value!r}")
    return value


def _bool(value: Any, name: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ParamError(f"{name} must be true or false, got {value!r}")
    return value


def _options(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ParamError("options must be an object of run-option names to values")
    options: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise ParamError(f"options.{key} must be a string or a number, got {item!r}")
        options[str(key).strip().lower().replace("-", "_")] = str(item).strip()
    return options


# --- the plan a job runs --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Part:
    """One unit of work with its own results and marker: a video of a batch, or a time range."""

    part_id: str  # the output folder (batch) or range-0001 (split)
    video: str  # s3:// URI of the video
    relative_path: str  # where the video lies under the input directory
    job_id: str | None = None  # a batch video's own job record


@dataclass(frozen=True, kw_only=True)
class JobPlan:
    """What every host of the job reads (``plan.json``): the parts, the mode and the run options."""

    job_id: str
    kind: JobKind
    parts: tuple[Part, ...]
    mode: Mode = "infer"
    image_format: str = "jpg"
    options: dict[str, str] = field(default_factory=dict)  # run-option overrides, as strings
    input_prefix: str = ""  # s3:// prefix the input directory mirrors (the manifest's prefix)
    ranges: int = 0  # split: how many time ranges

    def __post_init__(self) -> None:
        if self.kind not in JOB_KINDS:
            raise ValueError(f"kind must be one of {JOB_KINDS}, got {self.kind!r}")
        if not self.parts:
            raise ValueError("a plan has at least one part")
        ids = [part.part_id for part in self.parts]
        if len(set(ids)) != len(ids):
            raise ValueError("part ids must be unique")
        if self.kind == "split" and (self.ranges < 1 or len(self.parts) != self.ranges):
            raise ValueError("a split plan has one part per range")

    @property
    def part_ids(self) -> tuple[str, ...]:
        return tuple(part.part_id for part in self.parts)

    def part_for(self, relative_path: str) -> Part | None:
        return next((p for p in self.parts if p.relative_path == relative_path), None)

    def to_json(self) -> str:
        data = asdict(self)
        data["parts"] = [{k: v for k, v in asdict(p).items() if v is not None} for p in self.parts]
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> JobPlan:
        """The plan ``to_json`` wrote; ValueError for anything else."""
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("parts"), list):
            raise ValueError("not a job plan: no parts")
        parts = tuple(
            Part(**{k: v for k, v in p.items() if k in Part.__dataclass_fields__}) for p in data["parts"]
        )
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "parts"}
        return cls(parts=parts, **known)


def plan_batch(
    job_id: str,
    videos: Iterable[str],
    *,
    mode: Mode = "infer",
    image_format: str = "jpg",
    options: Mapping[str, str] | None = None,
    suffixes: tuple[str, ...] = VIDEO_SUFFIXES,
) -> JobPlan:
    """The plan of a batch over ``videos`` (s3:// URIs in one bucket), one part each, in order;
    ``suffixes`` are the deployment's video suffixes.

    The input prefix is the videos' longest common folder, so the ManifestFile lists the keys
    relative to it and each video lands under the input directory at that relative path.
    """
    uris = list(dict.fromkeys(videos))
    if not uris:
        raise ParamError("the batch names no video")
    locations = [split_s3_uri(uri) for uri in uris]
    buckets = {bucket for bucket, _ in locations}
    if len(buckets) != 1:
        raise ParamError(f"a batch reads videos from one bucket, got {sorted(buckets)}")
    bucket = buckets.pop()
    keys = [key for _, key in locations]
    not_videos = [key for key in keys if not is_video_key(key, suffixes)]
    if not_videos:
        raise ParamError(f"not videos: {', '.join(not_videos[:5])}")
    folder = _common_folder(keys)
    relative = [key[len(folder) :] for key in keys]
    names = output_names(relative)
    parts = tuple(
        Part(part_id=names[rel], video=uri, relative_path=rel, job_id=part_job_id(job_id, i))
        for i, (uri, rel) in enumerate(zip(uris, relative, strict=True))
    )
    return JobPlan(
        job_id=job_id,
        kind="batch",
        parts=parts,
        mode=mode,
        image_format=image_format,
        options=dict(options or {}),
        input_prefix=s3_uri(bucket, folder),
    )


def plan_split(
    job_id: str,
    video: str,
    ranges: int,
    *,
    mode: Mode = "infer",
    image_format: str = "jpg",
    options: Mapping[str, str] | None = None,
    suffixes: tuple[str, ...] = VIDEO_SUFFIXES,
) -> JobPlan:
    """The plan of one video cut into ``ranges`` time ranges (the hosts compute their bounds)."""
    if not 1 <= ranges <= MAX_INSTANCES:
        raise ParamError(f"a split job has 1..{MAX_INSTANCES} ranges, got {ranges}")
    bucket, key = split_s3_uri(video)
    if not is_video_key(key, suffixes):
        raise ParamError(f"not a video: {key}")
    folder, name = posixpath.split(key)
    parts = tuple(Part(part_id=range_part_id(i), video=video, relative_path=name) for i in range(ranges))
    return JobPlan(
        job_id=job_id,
        kind="split",
        parts=parts,
        mode=mode,
        image_format=image_format,
        options=dict(options or {}),
        input_prefix=s3_uri(bucket, f"{folder}/" if folder else ""),
        ranges=ranges,
    )


def _common_folder(keys: list[str]) -> str:
    folders = [key.rsplit("/", 1)[0] + "/" if "/" in key else "" for key in keys]
    common = posixpath.commonprefix(folders)
    return common[: common.rfind("/") + 1] if "/" in common else ""


def manifest_document(plan: JobPlan, parts: Iterable[Part] | None = None) -> str:
    """The ManifestFile (SageMaker's form: a prefix object, then keys relative to it) for ``parts``
    (default: all of them)."""
    chosen = list(plan.parts if parts is None else parts)
    return json.dumps([{"prefix": plan.input_prefix}, *(p.relative_path for p in chosen)])


# --- time ranges ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeRange:
    """``[start, end)`` in seconds; ``end`` None runs to the end of the video."""

    start: float
    end: float | None


def sample_count(start: float, stop: float, interval: float) -> int:
    """How many sample times ``start + k * interval`` lie in ``[start, stop)``."""
    return max(math.ceil((stop - start) / interval - SAMPLE_EPSILON), 0)


def split_ranges(
    *, start: float, stop: float, interval: float, count: int, end: float | None
) -> list[TimeRange]:
    """``count`` ranges over the sample times of ``[start, stop)``, each starting on a sample time,
    so a host sampling its range on the same grid takes exactly the samples a one-host run takes
    there. ``end`` is the run's own end (None: the whole video), which the last range keeps.
    ParamError when there are fewer samples than ranges."""
    samples = sample_count(start, stop, interval)
    if samples < count:
        raise ParamError(
            f"the video has {samples} sample(s) at this rate, fewer than the {count} ranges asked for"
        )
    bounds = [start + round(i * samples / count) * interval for i in range(count)]
    return [TimeRange(bounds[i], bounds[i + 1] if i + 1 < count else end) for i in range(count)]


# --- markers, errors and the roll-up ------------------------------------------------------------------

PartStatus = Literal["ok", "partial"]


@dataclass(frozen=True, kw_only=True)
class PartMarker:
    """``_done.json``: the part finished and its results are complete in S3."""

    part_id: str
    status: PartStatus
    frames: int
    seconds: float
    host: str
    attempt: int = 1
    start: float | None = None  # a range's bounds
    end: float | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> PartMarker:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a part marker")
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True, kw_only=True)
class PartError:
    """``error.json``: the part failed; the other parts go on."""

    part_id: str
    video: str
    type: str
    message: str
    host: str
    attempt: int = 1

    @property
    def reason(self) -> str:
        return f"{self.type}: {self.message}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> PartError:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a part error record")
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


RollupStatus = Literal["SUCCEEDED", "PARTIAL", "FAILED"]


@dataclass(frozen=True)
class Rollup:
    """The job's outcome from its parts: SUCCEEDED (all done), PARTIAL (some) or FAILED (none)."""

    status: RollupStatus
    done: tuple[str, ...]
    failed: dict[str, str]  # part id -> reason

    @property
    def reason(self) -> str | None:
        if not self.failed:
            return None
        listed = "; ".join(f"{part}: {why}" for part, why in list(self.failed.items())[:20])
        more = len(self.failed) - 20
        return f"{len(self.failed)} of {len(self.done) + len(self.failed)} part(s) failed: {listed}" + (
            f"; and {more} more" if more > 0 else ""
        )


def rollup(
    plan: JobPlan, done: Iterable[str], errors: Mapping[str, str], job_failure: str | None = None
) -> Rollup:
    """Each part is done (a marker), failed (its error record, else the job's failure) or missing."""
    finished = set(done)
    failed: dict[str, str] = {}
    for part_id in plan.part_ids:
        if part_id in finished:
            continue
        failed[part_id] = errors.get(part_id) or job_failure or "the part did not finish"
    done_ids = tuple(p for p in plan.part_ids if p in finished)
    status: RollupStatus = "SUCCEEDED" if not failed else ("PARTIAL" if done_ids else "FAILED")
    return Rollup(status, done_ids, failed)


def pending_parts(plan: JobPlan, done: Iterable[str]) -> list[Part]:
    """The parts a resume still has to run, in plan order."""
    finished = set(done)
    return [part for part in plan.parts if part.part_id not in finished]


PartState = Literal["done", "failed", "pending"]


@dataclass(frozen=True, kw_only=True)
class PartView:
    """One part as the client and the API show it: done (its marker), failed (its error record) or
    pending (neither yet: queued or running)."""

    part_id: str
    video: str
    state: PartState
    job_id: str | None = None
    reason: str | None = None


def part_views(
    plan: JobPlan, keys: Iterable[str], reasons: Mapping[str, str] | None = None
) -> list[PartView]:
    """Each part's state from the object keys under the job's prefix (``keys``); ``reasons`` are the
    failed parts' error records as read (:attr:`PartError.reason`), by part id."""
    present = set(keys)
    views: list[PartView] = []
    for part in plan.parts:
        state: PartState = "pending"
        reason = None
        if marker_key(plan.job_id, part.part_id) in present:
            state = "done"
        elif error_key(plan.job_id, part.part_id) in present:
            state = "failed"
            reason = (reasons or {}).get(part.part_id) or "the part failed (error.json unreadable)"
        views.append(
            PartView(part_id=part.part_id, video=part.video, state=state, job_id=part.job_id, reason=reason)
        )
    return views


def failed_part_ids(plan: JobPlan, keys: Iterable[str]) -> list[str]:
    """The parts with an error record and no marker (whose ``error.json`` a reader may read)."""
    present = set(keys)
    return [
        p.part_id
        for p in plan.parts
        if error_key(plan.job_id, p.part_id) in present and marker_key(plan.job_id, p.part_id) not in present
    ]


def resume_refusal(job_id: str, status: str | None, plan: JobPlan | None) -> str | None:
    """Why the job cannot be resumed (None: it can): only a batch or split job (it has a plan) that
    ended PARTIAL or FAILED."""
    if plan is None:
        return f"job {job_id} is not a batch or split job (it has no {PLAN_FILE}); only those resume"
    if status not in RESUMABLE_STATUSES:
        return (
            f"job {job_id} is {status or 'in an unknown state'}; only a job that ended "
            f"{' or '.join(RESUMABLE_STATUSES)} resumes"
        )
    return None
