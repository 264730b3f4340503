"""Model loading. Importing this package does not import torch: the registry stays light.

``load_predictor`` builds a predictor for a registry model from pretrained, random or
checkpointed weights; ``.onnx`` files go to ``reelsight.models.onnx_backend``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from reelsight.errors import ModelError
from reelsight.models.registry import REGISTRY, ModelSpec, get_spec, list_specs, recommended_resize

if TYPE_CHECKING:
    from reelsight.frames import SampledFrame
    from reelsight.results import FrameResult

__all__ = [
    "REGISTRY",
    "ModelSpec",
    "Predictor",
    "get_spec",
    "list_specs",
    "load_predictor",
    "recommended_resize",
]


class Predictor(Protocol):
    spec: ModelSpec
    weights_info: dict[str, Any]
    device: str

    def predict(self, frames: list[SampledFrame], *, with_masks: bool = True) -> list[FrameResult]: ...


def load_predictor(
    name: str,
    *,
    weights: str = "pretrained",
    device: str = "auto",
    precision: str = "auto",
    score_threshold: float = 0.5,
    allow_random_fallback: bool = False,
    seed: int = 0,
    model_kwargs: Mapping[str, Any] | None = None,
) -> Predictor:
    """A ready predictor for model ``name``.

    ``weights``: "pretrained" (torchvision's default weights, cached by torch hub and downloaded
    there when missing, within ``weights.download_limits()``), "auto" (the same, but random weights,
    loudly, when they cannot be had), "random" (seeded with ``seed``), a ``.pt``/``.pth`` state_dict,
    a SageMaker ``model.tar.gz`` (``model.pth`` + ``config.json``) or an ``.onnx`` file.
    ``model_kwargs`` go to the torchvision builder (``min_size``/``max_size`` override the
    detectors' internal resize).
    """
    spec = get_spec(name)
    if weights.endswith(".onnx"):  # an exported MXNet model (builtin_ssd) runs here too
        return _load_onnx(weights, spec, device, score_threshold)
    if spec.framework == "mxnet":
        raise ModelError(
            f"{spec.name} is an MXNet model: run it with the MXNet image or environment "
            "(this environment has PyTorch, and GluonCV cannot import beside it), or export it "
            "to ONNX (docs/edge.md)"
        )

    from reelsight.models import weights as weight_loading
    from reelsight.models.predictor import TorchvisionPredictor, resolve_device, resolve_precision

    torch_device = resolve_device(device)
    resolved_precision = resolve_precision(precision, torch_device)
    kwargs = weight_loading.builder_kwargs(spec, score_threshold, model_kwargs)
    classes = spec.classes
    if weights == "random":
        module = weight_loading.build_random(spec, seed=seed, kwargs=kwargs)
        info: dict[str, Any] = {
            "weights": "random",
            "weights_source": f"random(seed={seed})",
            "random_weights": True,
        }
    elif weights in ("pretrained", "auto"):
        try:
            module, info = weight_loading.build_pretrained(spec, kwargs=kwargs)
        except ModelError as exc:
            if weights == "pretrained" and not allow_random_fallback:
                raise
            module, info = weight_loading.build_random_fallback(spec, seed=seed, kwargs=kwargs, reason=exc)
    else:
        path = Path(os.path.expanduser(weights))
        module, spec, classes, info = weight_loading.build_from_checkpoint(spec, path, kwargs=kwargs)
    return TorchvisionPredictor(
        module,
        spec,
        classes=classes,
        weights_info=info,
        device=torch_device,
        precision=resolved_precision,
        score_threshold=score_threshold,
    )


def _load_onnx(path: str, spec: ModelSpec, device: str, score_threshold: float) -> Predictor:
    try:
        from reelsight.models import onnx_backend
    except ImportError as exc:
        raise ModelError(
            f"ONNX weights ({path}) need reelsight.models.onnx_backend, not available: {exc}"
        ) from exc
    predictor: Predictor = onnx_backend.load_onnx_predictor(
        path, spec_name=spec.name, device=device, score_threshold=score_threshold
    )
    return predictor
