"""The one result shape: the run summary (``summary.json`` and the async output body) and its short form.

:class:`RunSummary` is what a run wrote: ``summary.json`` next to ``frames.jsonl``, and also the
whole body of the worker's answer (the async output object), with ``artifacts`` as S3 URIs. The
frames are never in that body: they live in ``artifacts/frames.jsonl`` only.

:class:`ShortSummary` (``RunSummary.short()``) is the job-level figures: what the results handler
stores on the job record and publishes in the user notification, and what the API and the CLI
show. It is the only short form.

:class:`Timings` names the run's phases once, for the pipeline that writes them and every reader.
See docs/results-format.md for every field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, cast, get_args

from reelsight.contract.cost import CostReceipt
from reelsight.contract.names import TRACKS_FILE
from reelsight.contract.values import non_negative_number

SCHEMA_VERSION = "1.1"  # 1.1: tracking (unique_objects_per_class, track_ids, tracks.jsonl)
Status = Literal["ok", "partial", "failed"]
STATUSES: tuple[str, ...] = get_args(Status)
TIMING_DECIMALS = 4
SHORT_WARNINGS = 5  # warnings kept in the short form


def _count(value: Any) -> int:
    number = non_negative_number(value)
    return int(number) if number is not None else 0


def _text_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


def _counts(value: Any) -> dict[str, int]:
    return {str(k): _count(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


def _unique(value: Any) -> dict[str, int] | None:
    """``unique_objects_per_class``: None when the run did not track (and in 1.0 documents)."""
    return _counts(value) if isinstance(value, Mapping) else None


def _items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _status(value: Any) -> Status:
    return cast(Status, value) if value in STATUSES else "ok"


@dataclass
class Timings:
    """Wall-clock seconds of one run's phases, as ``reelsight.pipeline.run_video`` measures them."""

    total: float = 0.0
    model_load: float = 0.0  # 0 when the model was loaded before the run (the worker)
    decode: float = 0.0
    inference: float = 0.0
    write: float = 0.0
    inference_per_frame: float = 0.0
    total_per_frame: float = 0.0

    def to_json(self) -> dict[str, float]:
        return {name: round(float(seconds), TIMING_DECIMALS) for name, seconds in asdict(self).items()}

    @classmethod
    def from_json(cls, data: Any) -> Timings:
        """The known phases of ``data``; unknown names and values that are not seconds are left out."""
        if not isinstance(data, Mapping):
            return cls()
        known = {f.name: non_negative_number(data.get(f.name)) for f in fields(cls)}
        return cls(**{name: seconds for name, seconds in known.items() if seconds is not None})


@dataclass
class ShortSummary:
    """The job-level figures of a run: the job record's ``summary``, the notification's, the API's."""

    status: Status = "ok"
    frames_sampled: int = 0
    detections_total: int = 0
    counts_per_class: dict[str, int] = field(default_factory=dict)
    unique_objects_per_class: dict[str, int] | None = None  # tracks per class; None: not tracked
    model: str | None = None
    random_weights: bool = False
    partial: bool = False
    error: str | None = None
    timings: Timings = field(default_factory=Timings)
    artifacts: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    receipt: CostReceipt | None = None  # what the run cost (reelsight.contract.cost)
    schema_version: str = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        return _summary_json(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ShortSummary:
        """Read a stored short summary, also one an older results handler wrote (no timings, no error)."""
        model = data.get("model")
        if isinstance(model, Mapping):  # a full summary handed over by mistake still reads
            return RunSummary.from_json(data).short()
        return cls(
            status=_status(data.get("status")),
            frames_sampled=_count(data.get("frames_sampled")),
            detections_total=_count(data.get("detections_total")),
            counts_per_class=_counts(data.get("counts_per_class")),
            unique_objects_per_class=_unique(data.get("unique_objects_per_class")),
            model=str(model) if model else None,
            random_weights=data.get("random_weights") is True,
            partial=data.get("partial") is True,
            error=str(data["error"]) if data.get("error") else None,
            timings=Timings.from_json(data.get("timings")),
            artifacts=_text_map(data.get("artifacts")),
            warnings=[str(w) for w in _items(data.get("warnings"))][:SHORT_WARNINGS],
            receipt=CostReceipt.from_json(data.get("receipt")),
            schema_version=str(data.get("schema_version") or SCHEMA_VERSION),
        )


def _summary_json(summary: ShortSummary | RunSummary) -> dict[str, Any]:
    """Either summary form as JSON: ``schema_version`` first, typed timings and receipt as mappings."""
    data = asdict(summary)
    data["timings"] = summary.timings.to_json()
    data["receipt"] = summary.receipt.to_json() if summary.receipt else None
    return {"schema_version": data.pop("schema_version"), **data}


@dataclass
class RunSummary:
    """summary.json: what was run on which video, and what came out."""

    video: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    frames_sampled: int = 0
    detections_total: int = 0
    counts_per_class: dict[str, int] = field(default_factory=dict)
    unique_objects_per_class: dict[str, int] | None = None  # tracks per class; None: not tracked
    timings: Timings = field(default_factory=Timings)
    partial: bool = False
    approximate: bool = False
    warnings: list[str] = field(default_factory=list)
    artifacts: dict[str, str] = field(default_factory=dict)
    status: Status = "ok"
    error: str | None = None
    receipt: CostReceipt | None = None  # what the run cost; the worker adds it (reelsight.contract.cost)
    schema_version: str = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        return _summary_json(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunSummary:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["timings"] = Timings.from_json(known.get("timings"))
        known["receipt"] = CostReceipt.from_json(known.get("receipt"))
        known["unique_objects_per_class"] = _unique(known.get("unique_objects_per_class"))
        return cls(**known)

    @classmethod
    def from_output(cls, document: Any) -> RunSummary:
        """The summary of an async output body: the summary itself, or an older worker's result
        document ``{"schema_version", "summary", "frames"}``. ValueError for anything else."""
        if isinstance(document, Mapping) and isinstance(document.get("summary"), Mapping):
            document = document["summary"]
        if not isinstance(document, Mapping) or "frames_sampled" not in document:
            raise ValueError("not a run summary: no 'frames_sampled' (nor a 'summary' object holding it)")
        return cls.from_json(document)

    def short(self) -> ShortSummary:
        name = self.model.get("name")
        return ShortSummary(
            status=self.status,
            frames_sampled=self.frames_sampled,
            detections_total=self.detections_total,
            counts_per_class=dict(self.counts_per_class),
            unique_objects_per_class=_copy(self.unique_objects_per_class),
            model=str(name) if name else None,
            random_weights=self.model.get("random_weights") is True,
            partial=self.partial,
            error=self.error,
            timings=Timings(**asdict(self.timings)),
            artifacts=dict(self.artifacts),
            warnings=list(self.warnings)[:SHORT_WARNINGS],
            receipt=self.receipt,
            schema_version=self.schema_version,
        )


def _copy(counts: dict[str, int] | None) -> dict[str, int] | None:
    return dict(counts) if counts is not None else None


def merge_summaries(
    parts: list[RunSummary],
    *,
    params: Mapping[str, Any],
    unique_objects_per_class: Mapping[str, int] | None = None,
    more_warnings: Sequence[str] = (),
) -> RunSummary:
    """One summary of a video run as consecutive time ranges (``parts`` in time order), the same as
    a run of the whole video would write apart from its timings; ``params`` are the whole run's.

    A tracked run's ranges run untracked and the merger tracks them as one run: it passes the
    stitched tracks' ``unique_objects_per_class`` (the summary then lists ``tracks.jsonl``) and the
    whole run's own warnings (``more_warnings``, said after the ranges' own)."""
    if not parts:
        raise ValueError("nothing to merge: no range summary")
    counts: dict[str, int] = {}
    for part in parts:
        for name, count in part.counts_per_class.items():
            counts[name] = counts.get(name, 0) + count
    frames = sum(part.frames_sampled for part in parts)
    warnings = list(dict.fromkeys([*(w for part in parts for w in part.warnings), *more_warnings]))
    unique = dict(unique_objects_per_class) if unique_objects_per_class is not None else None
    artifacts = {
        k: v for part in parts for k, v in part.artifacts.items() if k in _MERGED_ARTIFACTS or v.endswith("/")
    }
    if unique is not None:
        artifacts["tracks"] = TRACKS_FILE
    partial = any(part.partial for part in parts)
    return RunSummary(
        video=dict(parts[0].video),
        model=dict(parts[0].model),
        params=dict(params),
        frames_sampled=frames,
        detections_total=sum(part.detections_total for part in parts),
        counts_per_class=dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        unique_objects_per_class=unique,
        timings=_summed_timings([part.timings for part in parts], frames),
        partial=partial,
        approximate=any(part.approximate for part in parts),
        warnings=warnings,
        artifacts=artifacts,
        status="partial" if partial else "ok",
    )


# What a merged result holds besides the per-frame folders (mask PNGs, frame images, ...).
_MERGED_ARTIFACTS = frozenset({"frames", "summary"})


def _summed_timings(timings: list[Timings], frames: int) -> Timings:
    total = Timings(**{f.name: sum(getattr(t, f.name) for t in timings) for f in fields(Timings)})
    per = max(frames, 1)
    total.inference_per_frame = total.inference / per
    total.total_per_frame = total.total / per
    return total
