"""Building torchvision models and filling them with weights: pretrained, random or a checkpoint."""

from __future__ import annotations

import json
import logging
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from reelsight.errors import ModelError
from reelsight.models.registry import ModelSpec, get_spec

log = logging.getLogger(__name__)

# Builder keyword arguments that set the score floor before NMS, per model family.
_SCORE_KWARG = {
    "maskrcnn_resnet50_fpn": "box_score_thresh",
    "maskrcnn_resnet50_fpn_v2": "box_score_thresh",
    "fasterrcnn_resnet50_fpn_v2": "box_score_thresh",
    "retinanet_resnet50_fpn_v2": "score_thresh",
    "ssdlite320_mobilenet_v3_large": "score_thresh",
}
# Builders whose transform accepts min_size / max_size (ssdlite always works at 320x320).
_RESIZABLE = {
    "maskrcnn_resnet50_fpn",
    "maskrcnn_resnet50_fpn_v2",
    "fasterrcnn_resnet50_fpn_v2",
    "retinanet_resnet50_fpn_v2",
}
# The layer whose first dimension is the number of classes, where it is easy to read.
_CLASS_LAYER = {
    "maskrcnn_resnet50_fpn": "roi_heads.box_predictor.cls_score.weight",
    "maskrcnn_resnet50_fpn_v2": "roi_heads.box_predictor.cls_score.weight",
    "fasterrcnn_resnet50_fpn_v2": "roi_heads.box_predictor.cls_score.weight",
    "deeplabv3_resnet50": "classifier.4.weight",
    "deeplabv3_resnet101": "classifier.4.weight",
    "deeplabv3_mobilenet_v3_large": "classifier.4.weight",
}


def builder_kwargs(spec: ModelSpec, score_threshold: float, model_kwargs: Mapping[str, Any] | None) -> dict:
    """Keyword arguments for the torchvision builder: score floor plus allowed overrides."""
    kwargs: dict[str, Any] = {}
    score_key = _SCORE_KWARG.get(spec.builder)
    if score_key:
        # Dropping candidates below the threshold before NMS cannot change what survives
        # above it (NMS only suppresses lower scores), and it saves work.
        kwargs[score_key] = float(score_threshold)
    for key, value in (model_kwargs or {}).items():
        if value is None:
            continue
        if key in ("min_size", "max_size"):
            if spec.builder not in _RESIZABLE:
                log.info("%s ignores %s: it always runs at its fixed input size", spec.name, key)
                continue
            kwargs[key] = int(value)
        else:
            kwargs[key] = value
    return kwargs


def _build(spec: ModelSpec, weights: Any, num_classes: int | None, kwargs: dict) -> torch.nn.Module:
    import torchvision

    builder = torchvision.models.get_model_builder(spec.builder)
    extra: dict[str, Any] = {"weights": weights, **kwargs}
    if weights is None:
        extra["weights_backbone"] = None
        if num_classes is not None:
            extra["num_classes"] = num_classes
    return builder(**extra)


def build_random(
    spec: ModelSpec, *, seed: int, kwargs: dict, num_classes: int | None = None
) -> torch.nn.Module:
    torch.manual_seed(seed)
    return _build(spec, None, num_classes, kwargs)


def build_pretrained(spec: ModelSpec, *, kwargs: dict) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The torchvision DEFAULT weights, downloaded once into torch hub's cache (TORCH_HOME)."""
    import torchvision

    enum = torchvision.models.get_model_weights(spec.builder).DEFAULT
    try:
        module = _build(spec, enum, None, kwargs)
    except (OSError, RuntimeError, ValueError) as exc:  # URLError is an OSError
        cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(enum.url).name
        raise ModelError(
            f"cannot load pretrained weights for {spec.name}: {exc.__class__.__name__}: {exc}. "
            f"Downloading {enum.url} failed (offline?). Put that file at {cache}, pass a checkpoint "
            "with --weights PATH, use --weights random, or add --allow-random-fallback."
        ) from exc
    info = {"weights": "pretrained", "weights_source": f"torchvision:{enum}", "random_weights": False}
    return module, info


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises a wide range of errors on bad files
        raise ModelError(f"cannot read checkpoint {path}: {exc}") from exc
    if isinstance(data, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            if isinstance(data.get(key), dict):
                data = data[key]
                break
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ModelError(f"{path} is not a state_dict (a mapping of parameter names to tensors)")
    # Checkpoints saved from DataParallel prefix every key with "module.".
    if data and all(k.startswith("module.") for k in data):
        data = {k[len("module.") :]: v for k, v in data.items()}
    return data


def _extract_tarball(path: Path, into: Path) -> tuple[Path, dict[str, Any]]:
    """A SageMaker model.tar.gz: model.pth (state_dict) and config.json, at its root."""
    try:
        with tarfile.open(path, "r:*") as archive:
            archive.extractall(into, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise ModelError(f"cannot open model archive {path}: {exc}") from exc
    weights = next((p for p in (into / "model.pth", into / "model.pt") if p.is_file()), None)
    if weights is None:
        raise ModelError(f"{path} has no model.pth at its root")
    config: dict[str, Any] = {}
    config_path = into / "config.json"
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text())
        except ValueError as exc:
            raise ModelError(f"config.json in {path} is not JSON: {exc}") from exc
        if not isinstance(config, dict):
            raise ModelError(f"config.json in {path} must be a JSON object")
    return weights, config


def _infer_num_classes(spec: ModelSpec, state: Mapping[str, torch.Tensor]) -> int | None:
    layer = _CLASS_LAYER.get(spec.builder)
    if layer and layer in state:
        return int(state[layer].shape[0])
    return None


def build_from_checkpoint(
    spec: ModelSpec, path: Path, *, kwargs: dict
) -> tuple[torch.nn.Module, ModelSpec, tuple[str, ...], dict[str, Any]]:
    """Load a .pt/.pth state_dict or a model.tar.gz; the archive's config.json may name the model."""
    if not path.is_file():
        raise ModelError(f"weights file not found: {path}")
    config: dict[str, Any] = {}
    if path.name.endswith((".tar.gz", ".tgz", ".tar")):
        with tempfile.TemporaryDirectory(prefix="reelsight-model-") as tmp:
            weights_path, config = _extract_tarball(path, Path(tmp))
            state = _read_state_dict(weights_path)
    else:
        state = _read_state_dict(path)
    if config.get("model"):
        configured = get_spec(str(config["model"]))
        if configured.name != spec.name:
            log.warning(
                "checkpoint %s is for model %s; using it instead of %s", path, configured.name, spec.name
            )
            spec = configured
        if configured.framework != "torchvision":
            raise ModelError(f"checkpoint {path} is for {configured.name}, a {configured.framework} model")
    classes = tuple(str(c) for c in config.get("classes") or ())
    num_classes = int(
        config.get("num_classes") or _infer_num_classes(spec, state) or len(classes) or spec.num_classes
    )
    if not classes:
        classes = (
            spec.classes
            if num_classes == spec.num_classes
            else tuple(f"class_{i}" for i in range(num_classes))
        )
    if len(classes) != num_classes:
        raise ModelError(f"{path}: config lists {len(classes)} classes but the model has {num_classes}")
    module = _build(spec, None, num_classes, dict(kwargs))
    expected = set(module.state_dict())
    if not any(k.startswith("aux_classifier.") for k in expected):
        state = {k: v for k, v in state.items() if not k.startswith("aux_classifier.")}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(
            f"checkpoint {path} does not fit {spec.name} with {num_classes} classes: {exc}"
        ) from exc
    info = {"weights": str(path), "weights_source": "checkpoint", "random_weights": False}
    return module, spec, classes, info
