"""``torch.onnx.export`` of reelsight's torchvision models at a fixed input size.

Detectors are exported with their internal resize pinned to the export size
(``min_size``/``max_size``), so the graph runs at exactly ``width`` x ``height`` and the
runtime only has to stretch frames to that size. Segmenters get the ImageNet
normalisation inside the graph and a dynamic batch dimension.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelsight.edge import (
    LAYOUT_DETECTION,
    LAYOUT_SEMANTIC,
    METADATA_CLASSES,
    METADATA_INPUT_SIZE,
    METADATA_LAYOUT,
    METADATA_MODEL,
    METADATA_SCORE_FLOOR,
    METADATA_TASK,
    METADATA_WEIGHTS,
)
from reelsight.errors import ModelError, ParamError
from reelsight.models.registry import get_spec

log = logging.getLogger(__name__)

DEFAULT_OPSET = 17
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ExportResult:
    path: Path
    model: str
    task: str
    input_size: tuple[int, int]
    classes: tuple[str, ...]
    weights_source: str
    layout: str


def default_size(model: str) -> tuple[int, int]:
    spec = get_spec(model)
    if spec.task == "semantic_segmentation" or spec.name == "ssdlite":
        return spec.input_size
    return (1280, 720)  # a 16:9 frame at the detectors' usual scale


def _not_torchvision(name: str, framework: str) -> str:
    if name == "builtin_ssd":
        return (
            "builtin_ssd is an MXNet model: export its model.tar.gz where MXNet is installed "
            "(.venv-mxnet or the MXNet image) with `python -m reelsight.mx export-onnx "
            "MODEL_TAR_GZ OUT.onnx`; the file then runs here (docs/edge.md)"
        )
    return f"{name} is a {framework} model; ONNX export covers the torchvision models and builtin_ssd"


def export_onnx(
    model: str,
    out_path: str | Path,
    *,
    weights: str = "pretrained",
    size: tuple[int, int] | None = None,
    score_threshold: float = 0.05,
    opset: int = DEFAULT_OPSET,
    seed: int = 0,
) -> ExportResult:
    """Export ``model`` (a registry name) with ``weights`` to ``out_path``.

    ``score_threshold`` is the floor baked into the detector's graph (candidates under it
    are dropped before NMS); the runtime can only raise it.
    """
    import torch

    from reelsight.models import load_predictor

    spec = get_spec(model)
    if spec.framework != "torchvision":
        raise ModelError(_not_torchvision(spec.name, spec.framework))
    width, height = size or default_size(spec.name)
    if width < 32 or height < 32:
        raise ParamError(f"export size must be at least 32x32, got {width}x{height}")
    if spec.name == "ssdlite" and (width, height) != spec.input_size:
        log.info("ssdlite always resizes to %dx%d inside the graph", *spec.input_size)
    model_kwargs = None if spec.name == "ssdlite" else _fixed_size_kwargs(spec.task, width, height)
    predictor: Any = load_predictor(
        spec.name,
        weights=weights,
        device="cpu",
        precision="fp32",
        score_threshold=score_threshold,
        seed=seed,
        model_kwargs=model_kwargs,
    )
    module = predictor.module.eval()
    classes = tuple(getattr(predictor, "classes", spec.classes))
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer chatter about constant shapes, by design here
        if spec.task == "semantic_segmentation":
            layout = LAYOUT_SEMANTIC
            wrapper = _Normalised(module)
            example = torch.rand(1, 3, height, width)
            torch.onnx.export(
                wrapper,
                (example,),
                str(out),
                input_names=["images"],
                output_names=["logits"],
                dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
                opset_version=opset,
                dynamo=False,
            )
        else:
            layout = LAYOUT_DETECTION
            example = torch.rand(3, height, width)
            names = ["boxes", "labels", "scores"] + (["masks"] if spec.has_masks else [])
            torch.onnx.export(
                module,
                ([example],),
                str(out),
                input_names=["image"],
                output_names=names,
                opset_version=opset,
                dynamo=False,
            )
    result = ExportResult(
        path=out,
        model=spec.name,
        task=spec.task,
        input_size=(width, height),
        classes=classes,
        weights_source=str(predictor.weights_info.get("weights_source", weights)),
        layout=layout,
    )
    _write_metadata(result, score_threshold)
    return result


def _fixed_size_kwargs(task: str, width: int, height: int) -> dict[str, Any] | None:
    if task == "semantic_segmentation":
        return None
    return {"min_size": min(width, height), "max_size": max(width, height)}


def _write_metadata(result: ExportResult, score_floor: float) -> None:
    import onnx

    proto = onnx.load(str(result.path))
    values = {
        METADATA_MODEL: result.model,
        METADATA_TASK: result.task,
        METADATA_CLASSES: json.dumps(list(result.classes)),
        METADATA_INPUT_SIZE: f"{result.input_size[0]}x{result.input_size[1]}",
        METADATA_LAYOUT: result.layout,
        METADATA_WEIGHTS: result.weights_source,
        METADATA_SCORE_FLOOR: repr(float(score_floor)),
    }
    del proto.metadata_props[:]
    for key, value in values.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "reelsight"
    onnx.checker.check_model(proto)
    onnx.save(proto, str(result.path))


def _normalised_module() -> Any:
    import torch

    class Normalised(torch.nn.Module):
        """ImageNet normalisation + the segmenter, returning only the ``out`` logits."""

        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner
            self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return self.inner((images - self.get_buffer("mean")) / self.get_buffer("std"))["out"]

    return Normalised


def _Normalised(inner: Any) -> Any:  # noqa: N802 - reads like the class it builds
    return _normalised_module()(inner)
