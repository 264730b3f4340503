"""Build-time download of GluonCV weights into the image (the Processing job has no network)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from reelsight.errors import ModelError, ParamError
from reelsight.mx import BUILTIN_SSD
from reelsight.mx.loader import spec_for


def bake(model: str, directory: str | Path) -> Path:
    """Download ``model``'s pretrained parameters and save them as ``<directory>/<model>.params``.

    ``reelsight.mx.segmentation.baked_weights`` finds the file there through
    ``REELSIGHT_MODEL_DIR`` when a run asks for ``weights=pretrained``.
    """
    spec = spec_for(model)
    if spec.name == BUILTIN_SSD:
        raise ParamError("builtin_ssd weights come from a training job (weights=s3://...); nothing to bake")
    from gluoncv import model_zoo

    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    cache = Path(os.environ.get("MXNET_HOME") or tempfile.mkdtemp(prefix="mxnet-")) / "models"
    try:
        net = model_zoo.get_model(spec.name, pretrained=True, pretrained_base=False, root=str(cache))
    except Exception as exc:  # gluoncv raises whatever the download or the zoo lookup raises
        raise ModelError(f"cannot download pretrained {spec.name}: {type(exc).__name__}: {exc}") from None
    path = target / f"{spec.name}.params"
    net.save_parameters(str(path))
    return path
