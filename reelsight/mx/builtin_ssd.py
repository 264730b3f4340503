"""Artifacts of the SageMaker built-in Object Detection algorithm (MXNet SSD) as a Predictor.

A training job writes ``model.tar.gz`` holding ``<prefix>-symbol.json``,
``<prefix>-<epoch>.params`` and ``hyperparams.json``. The training symbol still has its
``label`` input and loss heads; its detection head (MultiBoxDetection) answers rows of
``[class, score, xmin, ymin, xmax, ymax]`` with coordinates relative to the image and
class -1 for suppressed anchors. Deploy-converted symbols (detection output only) load too.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mxnet as mx
import numpy as np

from reelsight import envvars
from reelsight.errors import ModelError
from reelsight.models.registry import ModelSpec
from reelsight.mx.artifacts import artifact_files, read_labels
from reelsight.mx.context import mx_context
from reelsight.results import Detections, FrameResult

# The RGB mean the built-in algorithm subtracts (pixel values stay 0..255).
MEAN_RGB = np.array([123.68, 116.779, 103.939], dtype=np.float32)
DETECTION_OUTPUT_HINTS = ("det_out", "detection")


@dataclass
class BuiltinSSD:
    """Predictor over a built-in SSD symbol: frames are stretched to ``image_shape`` squares."""

    spec: ModelSpec
    module: mx.mod.Module
    output_index: int
    image_shape: int
    class_names: tuple[str, ...]
    score_threshold: float
    device: str
    weights_info: dict[str, Any]
    has_label_input: bool
    batch_size: int

    @property
    def classes(self) -> tuple[str, ...]:
        return self.class_names

    @property
    def precision(self) -> str:
        return "fp32"

    def predict(self, frames: list[Any], *, with_masks: bool = True) -> list[FrameResult]:
        results: list[FrameResult] = []
        for start in range(0, len(frames), self.batch_size):
            chunk = frames[start : start + self.batch_size]
            rows = self._forward([f.image for f in chunk])
            results.extend(self._frame_result(f, r) for f, r in zip(chunk, rows, strict=True))
        return results

    def _forward(self, images: list[np.ndarray]) -> np.ndarray:
        import cv2

        size = self.image_shape
        batch = np.zeros((self.batch_size, 3, size, size), dtype=np.float32)
        for i, image in enumerate(images):
            resized = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32)
            batch[i] = (resized - MEAN_RGB).transpose(2, 0, 1)
        data = [mx.nd.array(batch)]
        label = [mx.nd.full((self.batch_size, 1, 5), -1.0)] if self.has_label_input else None
        self.module.forward(mx.io.DataBatch(data=data, label=label), is_train=False)
        out = self.module.get_outputs()[self.output_index].asnumpy()
        return out[: len(images)]

    def _frame_result(self, frame: Any, rows: np.ndarray) -> FrameResult:
        detections = self.to_detections(rows, frame.image.shape[1], frame.image.shape[0], frame.transform)
        return FrameResult.from_frame(frame, detections=detections)

    def to_detections(self, rows: np.ndarray, width: int, height: int, transform: Any = None) -> Detections:
        """Relative ``[class, score, xmin, ymin, xmax, ymax]`` rows -> Detections in source pixels."""
        return relative_rows_to_detections(
            rows, width, height, self.class_names, self.score_threshold, transform
        )


def relative_rows_to_detections(
    rows: np.ndarray,
    width: int,
    height: int,
    class_names: tuple[str, ...] | list[str],
    score_threshold: float,
    transform: Any = None,
) -> Detections:
    """Convert the algorithm's relative rows on a ``width`` x ``height`` frame to Detections.

    ``transform`` (a ``reelsight.frames.FrameTransform``) maps frame pixels back to source
    pixels when the sampler resized the frame.
    """
    rows = np.asarray(rows, dtype=np.float32).reshape(-1, 6)
    keep = (rows[:, 0] >= 0) & (rows[:, 1] >= score_threshold)
    rows = rows[keep]
    rows = rows[np.argsort(-rows[:, 1], kind="stable")]
    boxes = np.clip(rows[:, 2:6], 0.0, 1.0) * np.array([width, height, width, height], np.float32)
    if transform is not None and len(boxes):
        boxes = np.asarray(transform.to_source_boxes(boxes), dtype=np.float32)
    labels = rows[:, 0].astype(np.int64)
    names = [class_names[i] if 0 <= i < len(class_names) else f"class_{i}" for i in labels]
    return Detections(xyxy=boxes, labels=labels, scores=rows[:, 1], class_names=names)


def _pick_output(symbol: mx.sym.Symbol) -> int:
    names = symbol.list_outputs()
    for hint in DETECTION_OUTPUT_HINTS:
        for i, name in enumerate(names):
            if hint in name:
                return i
    return len(names) - 1


def _class_names(labels_path: Path | None, hyper: dict[str, Any]) -> tuple[str, ...]:
    """``REELSIGHT_LABELS_FILE`` wins over a labels file inside the artifact."""
    from_env = os.environ.get(envvars.LABELS_FILE)
    explicit = Path(from_env) if from_env else labels_path
    num_classes = int(hyper.get("num_classes", 0) or 0)
    if explicit is not None:
        names = read_labels(explicit)
        if num_classes and len(names) != num_classes:
            raise ModelError(
                f"labels file {explicit} lists {len(names)} classes, the model has {num_classes}"
            )
        return tuple(names)
    return tuple(f"class_{i}" for i in range(num_classes))


def load_builtin_ssd(
    spec: ModelSpec,
    *,
    weights: str,
    labels: str | Path | None = None,
    device: str = "auto",
    score_threshold: float = 0.5,
    batch_size: int = 1,
) -> BuiltinSSD:
    """Load a built-in SSD ``model.tar.gz`` (or its extracted folder) for inference."""
    if weights in ("pretrained", "random"):
        raise ModelError(
            "builtin_ssd needs weights=<path or s3 uri of the training job's model.tar.gz>; "
            "it has no pretrained or random variant"
        )
    with artifact_files(weights) as files:  # everything is read from it inside this block
        if files.symbol is None or files.params is None:
            raise ModelError(f"{weights} holds no '<prefix>-symbol.json' and '<prefix>-NNNN.params' pair")
        hyper: dict[str, Any] = {}
        if files.hyperparams is not None:
            try:
                hyper = json.loads(files.hyperparams.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise ModelError(f"{files.hyperparams} is not JSON: {exc}") from None
        names = tuple(read_labels(labels)) if labels is not None else _class_names(files.labels, hyper)
        try:
            symbol = mx.sym.load(str(files.symbol))
            saved = mx.nd.load(str(files.params))
        except mx.base.MXNetError as exc:
            raise ModelError(f"cannot read the MXNet artifact in {weights}: {exc}") from None
    image_shape = int(hyper.get("image_shape", spec.input_size[0]) or spec.input_size[0])
    ctx, device_name = mx_context(device)
    arg_params = {k[4:]: v for k, v in saved.items() if k.startswith("arg:")}
    aux_params = {k[4:]: v for k, v in saved.items() if k.startswith("aux:")}
    output_index = _pick_output(symbol)
    has_label = "label" in symbol.list_arguments()
    module = mx.mod.Module(
        symbol, data_names=("data",), label_names=("label",) if has_label else None, context=ctx
    )
    label_shapes = [("label", (batch_size, 1, 5))] if has_label else None
    try:
        module.bind(
            data_shapes=[("data", (batch_size, 3, image_shape, image_shape))],
            label_shapes=label_shapes,
            for_training=False,
        )
        module.set_params(arg_params, aux_params, allow_missing=False, allow_extra=True)
    except (mx.base.MXNetError, RuntimeError, ValueError) as exc:
        raise ModelError(f"cannot bind the SSD symbol of {weights}: {exc}") from None
    info = {"weights": weights, "weights_source": str(files.params), "random_weights": False}
    return BuiltinSSD(
        spec=ModelSpec(
            name=spec.name,
            task="detection",
            classes=names,
            input_size=(image_shape, image_shape),
            framework="mxnet",
            description=spec.description,
        ),
        module=module,
        output_index=output_index,
        image_shape=image_shape,
        class_names=names,
        score_threshold=score_threshold,
        device=device_name,
        weights_info=info,
        has_label_input=has_label,
        batch_size=batch_size,
    )
