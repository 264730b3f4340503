"""The SageMaker Processing contract for the MXNet image, shared with the torch worker.

``reelsight.worker.processing`` owns the contract (resourceconfig.json, the job config,
inputs and outputs under /opt/ml/processing, the per-video folders, manifest.json and the
ExitMessage); this module supplies the MXNet predictor and runner it calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reelsight import envvars
from reelsight.worker import processing

DEFAULT_MODEL = "deeplab_resnet101_citys"


def default_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` with the MXNet default model when neither it nor the job config names one."""
    merged = dict(environ)
    job_config = processing.read_job_config(
        Path(environ.get(envvars.JOB_CONFIG) or processing.DEFAULT_JOB_CONFIG)
    )
    job_env = job_config.get("Environment") or {}
    if not merged.get(envvars.MODEL) and not job_env.get(envvars.MODEL):
        merged[envvars.MODEL] = DEFAULT_MODEL
    return merged


def run_mx_job(settings: processing.ProcessSettings, *, labels: str | None = None) -> int:
    """``reelsight.worker.processing.run_job`` with the MXNet predictor and runner plugged in."""

    def load(settings: processing.ProcessSettings) -> Any:
        from reelsight.mx.loader import load_mx_predictor

        opts = settings.options
        return load_mx_predictor(
            opts.model,
            weights=opts.weights,
            device=opts.device,
            score_threshold=opts.score_threshold,
            batch_size=opts.batch_size,
            labels=labels,
        )

    def infer(settings: processing.ProcessSettings, rel: Path, out_dir: Path, predictor: Any, progress: Any):
        from reelsight.mx.runner import run_video_mx

        uri = f"{settings.input_uri.rstrip('/')}/{rel.as_posix()}" if settings.input_uri else rel.as_posix()
        return run_video_mx(
            settings.input_dir / rel,
            options=settings.options,
            out_dir=out_dir,
            predictor=predictor,
            progress=progress,
            video_uri=uri,
        )

    # run_job looks these two hooks up at call time; this process only ever runs MXNet models.
    processing._load_predictor = load  # type: ignore[assignment]
    processing._infer = infer  # type: ignore[assignment]
    return processing.run_job(settings)
