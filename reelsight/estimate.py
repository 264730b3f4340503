"""The expected worker time and cost of a run, before it runs (``reelsight estimate``).

Expected frames = ``ceil(video duration * fps)`` (as the frame sampler counts them). The worker
seconds per frame come from the deployment's own completed jobs of that model on that instance
type (their receipts: ``sum(worker_seconds.total) / sum(frames)``) when there are some, else from
:data:`DEFAULT_SECONDS_PER_FRAME`. The price is the receipt's (:mod:`reelsight.contract.cost`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from types import MappingProxyType
from typing import Any

from reelsight.contract.cost import CostReceipt, cost_of, price_for
from reelsight.contract.jobs import JobRecord
from reelsight.contract.summary import ShortSummary

# Worker seconds per sampled frame (decode + inference + write, model already loaded) on one
# single-GPU instance of the ml.g4dn.xlarge class at reelsight's default input sizes. These are
# planning figures for a first estimate, not measurements: once the deployment has completed jobs
# of a model on an instance type, their receipts replace them.
DEFAULT_SECONDS_PER_FRAME: Mapping[str, float] = MappingProxyType(
    {
        "maskrcnn": 0.25,
        "maskrcnn_v2": 0.35,
        "fasterrcnn": 0.15,
        "retinanet": 0.15,
        "ssdlite": 0.03,
        "deeplabv3_resnet50": 0.20,
        "deeplabv3_resnet101": 0.30,
        "deeplabv3_mobilenet_v3": 0.05,
        "deeplab_resnet101_citys": 0.40,
        "builtin_ssd": 0.05,
    }
)
DEFAULT_INSTANCE_TYPE = "ml.g4dn.xlarge"  # the deployment's default (stacks.config CONTEXT_DEFAULTS)
MAX_FPS = 120.0  # the most the deployment's `fps` context accepts


@dataclass(frozen=True)
class Basis:
    """Where the seconds per frame come from."""

    seconds_per_frame: float
    jobs: int  # completed jobs it was measured on; 0: the default table
    description: str


@dataclass(frozen=True)
class Estimate:
    video: str
    video_seconds: float
    fps: float
    frames: int
    model: str
    instance_type: str | None
    region: str | None
    seconds_per_frame: float
    worker_seconds: float
    price_per_hour: float | None
    price_source: str
    cost: float | None
    basis: str
    basis_jobs: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def expected_frames(duration: float, fps: float, frame_count: int | None = None) -> int:
    """Samples of a ``duration``-second video at ``fps`` (never more than its frames)."""
    count = max(math.ceil(duration * fps - 1e-9), 0)
    return min(count, frame_count) if frame_count else count


def _receipt(job: JobRecord, model: str) -> CostReceipt | None:
    """The receipt of a completed job of ``model`` that measured at least one frame."""
    if not job.summary:
        return None
    summary = ShortSummary.from_json(job.summary)
    receipt = summary.receipt
    if summary.model != model or receipt is None or receipt.frames <= 0:
        return None
    return receipt if receipt.worker_seconds.total > 0 else None


def usual_instance_type(jobs: Iterable[JobRecord], model: str) -> str | None:
    """The instance type most of the completed jobs of ``model`` ran on ("" for a local worker, which
    has none); None when there are no such jobs."""
    counts = Counter(r.instance_type or "" for r in (_receipt(job, model) for job in jobs) if r is not None)
    return counts.most_common(1)[0][0] if counts else None


def job_instance_types(jobs: Iterable[JobRecord]) -> set[str]:
    """The instance types completed jobs ran on (as their receipts say)."""
    receipts = (ShortSummary.from_json(job.summary).receipt for job in jobs if job.summary)
    return {r.instance_type for r in receipts if r is not None and r.instance_type}


def basis_from_jobs(jobs: Iterable[JobRecord], model: str, instance_type: str | None) -> Basis | None:
    """Seconds per frame over the completed jobs of ``model`` on ``instance_type``; None without any."""
    receipts = [r for r in (_receipt(job, model) for job in jobs) if r and r.instance_type == instance_type]
    if not receipts:
        return None
    seconds = sum(r.worker_seconds.total for r in receipts)
    frames = sum(r.frames for r in receipts)
    where = instance_type or "a local worker"
    noun = "job" if len(receipts) == 1 else "jobs"
    return Basis(seconds / frames, len(receipts), f"{len(receipts)} completed {model} {noun} on {where}")


def default_basis(model: str) -> Basis:
    return Basis(DEFAULT_SECONDS_PER_FRAME[model], 0, "reelsight's default figures (no completed jobs yet)")


def estimate(
    *,
    video: str,
    video_seconds: float,
    frames: int,
    fps: float,
    model: str,
    instance_type: str | None,
    region: str | None,
    basis: Basis,
    prices: Mapping[str, float] | None = None,
) -> Estimate:
    worker_seconds = frames * basis.seconds_per_frame
    price, source = price_for(instance_type, region, prices)
    return Estimate(
        video=video,
        video_seconds=video_seconds,
        fps=fps,
        frames=frames,
        model=model,
        instance_type=instance_type,
        region=region,
        seconds_per_frame=basis.seconds_per_frame,
        worker_seconds=worker_seconds,
        price_per_hour=price,
        price_source=source,
        cost=cost_of(price, worker_seconds),
        basis=basis.description,
        basis_jobs=basis.jobs,
    )


def describe(result: Estimate) -> list[str]:
    """The estimate as the CLI prints it."""
    lines = [
        f"video: {result.video} ({result.video_seconds:.1f} s)",
        f"model: {result.model} at {result.fps:g} fps: {result.frames} frames",
        f"instance: {result.instance_type or 'local worker'}"
        + (f" in {result.region}" if result.region else ""),
        f"expected worker time: {result.worker_seconds:.1f} s ({result.seconds_per_frame:.3f} s per frame)",
    ]
    if result.cost is not None and result.price_per_hour is not None:
        lines.append(
            f"expected cost: ${result.cost:.4f} at ${result.price_per_hour:g}/h ({result.price_source})"
        )
    else:
        lines.append(f"expected cost: unknown ({result.price_source})")
    lines.append(f"basis: {result.basis}")
    return lines


def receipt_line(summary: Mapping[str, Any] | None) -> str | None:
    """The ``cost:`` line of a job's short summary; None when it has no receipt."""
    receipt = ShortSummary.from_json(summary).receipt if summary else None
    if receipt is None:
        return None
    where = receipt.instance_type or "local worker"
    seconds = receipt.worker_seconds.total
    if receipt.cost is None:
        return f"cost: unknown, {seconds:.1f} worker s on {where} ({receipt.price_source})"
    per_hour = (
        f", ${receipt.cost_per_video_hour:.2f} per video hour"
        if receipt.cost_per_video_hour is not None
        else ""
    )
    price = f"${receipt.price_per_hour:g}/h"
    return f"cost: ${receipt.cost:.4f} for {seconds:.1f} worker s on {where} at {price}{per_hour}"
