"""The SageMaker Processing contract for the MXNet image, shared with the torch worker.

``reelsight.worker.processing`` owns the contract (resourceconfig.json, the job config,
inputs and outputs under /opt/ml/processing, the per-video folders, manifest.json and the
ExitMessage) and ``reelsight.pipeline`` runs each video; this module supplies the MXNet
predictor they call, and the MXNet defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reelsight import envvars
from reelsight.contract.processing import container_path
from reelsight.worker import processing

DEFAULT_MODEL = "deeplab_resnet101_citys"
# Seed 000 wrote a coloured mask per sampled frame: mask_pngs is on unless a run says otherwise.
DEFAULT_INCLUDE = "masks+mask_pngs+contact_sheet"
_DEFAULTS = {envvars.MODEL: DEFAULT_MODEL, envvars.INCLUDE: DEFAULT_INCLUDE}


def default_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` plus the MXNet defaults (model, include) that neither it nor the job config sets."""
    merged = dict(environ)
    job_config = processing.read_job_config(
        Path(environ.get(envvars.JOB_CONFIG) or container_path(processing.DEFAULT_JOB_CONFIG, environ))
    )
    job_env = job_config.get("Environment") or {}
    for name, value in _DEFAULTS.items():
        if not merged.get(name) and not job_env.get(name):
            merged[name] = value
    return merged


def run_mx_job(settings: processing.ProcessSettings, *, labels: str | None = None) -> int:
    """``reelsight.worker.processing.run_job`` with the MXNet predictor plugged in."""

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

    # Videos then go through reelsight.pipeline.run_video like the torch models' do.
    return processing.run_job(settings, load=load)
