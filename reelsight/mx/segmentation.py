"""GluonCV semantic segmentation (seed 000's ``deeplab_resnet101_citys`` and the rest of the zoo)."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import mxnet as mx
import numpy as np

from reelsight import envvars
from reelsight.errors import ModelError
from reelsight.models.registry import CITYSCAPES_CATEGORIES, VOC_CATEGORIES, ModelSpec
from reelsight.mx.artifacts import artifact_files
from reelsight.mx.context import mx_context
from reelsight.results import FrameResult, SemanticResult

# ImageNet statistics, the normalisation every GluonCV segmentation model was trained with.
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

# Model-zoo name suffix -> the dataset's class list (None: look it up in gluoncv).
_DATASETS: dict[str, tuple[str, ...] | None] = {
    "citys": CITYSCAPES_CATEGORIES,
    "voc": VOC_CATEGORIES,
    "coco": VOC_CATEGORIES,
    "ade": None,
}


@dataclass
class GluonSegmenter:
    """A GluonCV segmentation network with the Predictor interface of ``reelsight.models``."""

    spec: ModelSpec
    net: Any
    ctx: mx.Context
    device: str
    weights_info: dict[str, Any]
    class_names: tuple[str, ...] = field(default=())

    def predict(self, frames: list[Any], *, with_masks: bool = True) -> list[FrameResult]:
        if not frames:
            return []
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, frame in enumerate(frames):
            groups.setdefault(frame.image.shape, []).append(i)
        class_maps: list[np.ndarray | None] = [None] * len(frames)
        for indices in groups.values():
            batch = np.stack([frames[i].image for i in indices]).astype(np.float32) / 255.0
            batch = ((batch - MEAN) / STD).transpose(0, 3, 1, 2)
            scores = self._forward(mx.nd.array(batch, ctx=self.ctx))
            labels = mx.nd.argmax(scores, axis=1).asnumpy().astype(np.uint8)
            for k, i in enumerate(indices):
                class_maps[i] = labels[k]
        return [self._frame_result(frame, cmap) for frame, cmap in zip(frames, class_maps, strict=True)]

    def _forward(self, x: mx.nd.NDArray) -> mx.nd.NDArray:
        if hasattr(self.net, "demo"):
            return self.net.demo(x)  # upsamples to the input size
        out = self.net(x)
        return out[0] if isinstance(out, list | tuple) else out

    def _frame_result(self, frame: Any, class_map: np.ndarray | None) -> FrameResult:
        assert class_map is not None
        class_map = to_source_size(class_map, frame)
        counts = np.bincount(class_map.ravel(), minlength=len(self.class_names))
        total = float(class_map.size)
        fractions = {self.class_names[c]: float(counts[c]) / total for c in np.flatnonzero(counts)}
        return FrameResult.from_frame(
            frame, semantic=SemanticResult(fractions=fractions, class_map=class_map)
        )

    @property
    def classes(self) -> tuple[str, ...]:
        return self.class_names

    @property
    def precision(self) -> str:
        return "fp32"


def to_source_size(class_map: np.ndarray, frame: Any) -> np.ndarray:
    """Map a class map computed on the (possibly resized or cropped) frame back to source pixels."""
    width, height = frame.source_size
    if class_map.shape == (height, width):
        return class_map
    transform = frame.transform
    if getattr(transform, "source_size", None) is None:
        transform = replace(transform, source_size=(width, height))
    return np.asarray(transform.to_source_mask(class_map), dtype=np.uint8)


def class_names_for(name: str, nclass: int) -> tuple[str, ...]:
    classes = _DATASETS.get(name.rsplit("_", 1)[-1])
    if classes is None and name.endswith("_ade"):
        from gluoncv.data import ADE20KSegmentation

        classes = tuple(ADE20KSegmentation.CLASSES)
    if classes is not None and len(classes) == nclass:
        return classes
    return tuple(f"class_{i}" for i in range(nclass))


def build_network(name: str) -> Any:
    """The zoo network with no downloads (``pretrained_base=False``), parameters not yet set."""
    from gluoncv import model_zoo

    try:
        return model_zoo.get_model(name, pretrained=False, pretrained_base=False)
    except (ValueError, KeyError) as exc:
        raise ModelError(f"unknown GluonCV model {name!r}: {exc}") from None
    except TypeError:
        return model_zoo.get_model(name, pretrained=False)


def baked_weights(name: str) -> Path | None:
    """Weights baked into the image: ``$REELSIGHT_MODEL_DIR/<name>.params`` or the GluonCV cache."""
    candidates: list[Path] = []
    model_dir = os.environ.get(envvars.MODEL_DIR)
    if model_dir:
        candidates.append(Path(model_dir) / f"{name}.params")
    mx_home = Path(os.environ.get("MXNET_HOME", Path.home() / ".mxnet"))
    candidates.extend(sorted((mx_home / "models").glob(f"{name}-*.params")))
    return next((p for p in candidates if p.is_file()), None)


def _forward_once(net: Any, ctx: mx.Context) -> None:
    x = mx.nd.zeros((1, 3, 64, 64), ctx=ctx)
    if hasattr(net, "demo"):
        net.demo(x)
    else:
        net(x)
    mx.nd.waitall()


def load_segmenter(
    spec: ModelSpec, *, weights: str = "pretrained", device: str = "auto", seed: int = 0
) -> GluonSegmenter:
    """Build ``spec.name`` from the GluonCV zoo and set its parameters from ``weights``.

    ``weights``: ``pretrained`` (baked file, see ``baked_weights``), ``random`` (seeded
    Xavier initialisation, for tests), a ``.params`` file, a directory or a ``model.tar.gz``.
    """
    ctx, device_name = mx_context(device)
    net = build_network(spec.name)
    source: str
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "already initialized" from zoo constructors
        if weights == "random":
            mx.random.seed(seed)
            np.random.seed(seed)
            net.initialize(mx.init.Xavier(), ctx=ctx, force_reinit=True)
            # Layers without declared input sizes initialise on their first forward pass; run it
            # now so the weights come from this seed, not from whatever the RNG holds later.
            _forward_once(net, ctx)
            source = "random"
        else:
            path = baked_weights(spec.name) if weights == "pretrained" else Path(weights)
            if path is None:
                raise ModelError(
                    f"no baked weights for {spec.name}: set {envvars.MODEL_DIR} to a folder holding "
                    f"{spec.name}.params, pass a .params/model.tar.gz path, or weights=random"
                )
            with artifact_files(path) as files:
                params = files.params
                if params is None:
                    raise ModelError(f"no .params file in {path}")
                try:
                    net.load_parameters(str(params), ctx=ctx, allow_missing=False, ignore_extra=True)
                except (mx.base.MXNetError, AssertionError, ValueError) as exc:
                    raise ModelError(f"cannot load {params} into {spec.name}: {exc}") from None
            source = str(params)
    nclass = int(getattr(net, "nclass", 0) or len(spec.classes))
    classes = spec.classes if len(spec.classes) == nclass else class_names_for(spec.name, nclass)
    info = {"weights": weights, "weights_source": source, "random_weights": weights == "random"}
    return GluonSegmenter(
        spec=spec,
        net=net,
        ctx=ctx,
        device=device_name,
        weights_info=info,
        class_names=tuple(classes),
    )
