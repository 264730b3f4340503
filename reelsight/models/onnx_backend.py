"""Run a file written by ``reelsight export --onnx`` with onnxruntime, as a Predictor.

Frames are stretched to the file's input size, the outputs mapped back to source pixels
with each frame's transform, so the results have the same shape as the torch predictor's:
boxes in source pixels, instance masks as COCO RLE, semantic class maps at source size.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from reelsight.edge import (
    LAYOUT_DETECTION,
    LAYOUT_SEMANTIC,
    METADATA_CLASSES,
    METADATA_INPUT_SIZE,
    METADATA_LAYOUT,
    METADATA_MODEL,
    METADATA_WEIGHTS,
)
from reelsight.errors import ModelError, ParamError
from reelsight.models.registry import ModelSpec, get_spec
from reelsight.results import Detections, FrameResult, SemanticResult, mask_to_rle

if TYPE_CHECKING:
    from reelsight.frames import FrameTransform, SampledFrame

MASK_THRESHOLD = 0.5


def onnx_providers(device: str) -> tuple[list[Any], str]:
    """onnxruntime execution providers for a reelsight device string, and the device's name."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device == "cpu":
        return ["CPUExecutionProvider"], "cpu"
    if device == "auto" or device.startswith("cuda"):
        index = int(device.split(":", 1)[1]) if ":" in device else 0
        if "CUDAExecutionProvider" in available:
            return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"], f"cuda:{index}"
        if device != "auto":
            raise ParamError(
                f"device {device!r} requested but onnxruntime has no CUDA provider ({available})"
            )
        return ["CPUExecutionProvider"], "cpu"
    raise ParamError(f"device must be one of auto, cpu, cuda, cuda:N, got {device!r}")


@dataclass
class OnnxPredictor:
    spec: ModelSpec
    session: Any
    layout: str
    input_size: tuple[int, int]  # (width, height)
    classes: tuple[str, ...]
    score_threshold: float
    weights_info: dict[str, Any]
    device: str

    def predict(self, frames: list[SampledFrame], *, with_masks: bool = True) -> list[FrameResult]:
        if not frames:
            return []
        if self.layout == LAYOUT_SEMANTIC:
            return self._predict_semantic(frames)
        return [self._predict_detection(f, with_masks=with_masks and self.spec.has_masks) for f in frames]

    def class_name(self, label: int) -> str:
        return self.classes[label] if 0 <= label < len(self.classes) else f"class_{label}"

    # --- internals --------------------------------------------------------------------------

    def _input(self, image: np.ndarray) -> tuple[np.ndarray, FrameTransform]:
        """CHW float32 0..1 at the model's size, plus frame-pixel -> model-pixel scale."""
        import cv2

        width, height = self.input_size
        h, w = image.shape[:2]
        if (w, h) != (width, height):
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
        chw = np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32) / np.float32(255.0)
        from reelsight.frames import FrameTransform

        return chw, FrameTransform(scale_x=width / w, scale_y=height / h)

    def _predict_detection(self, frame: SampledFrame, *, with_masks: bool) -> FrameResult:
        chw, stretch = self._input(frame.image)
        outputs = self.session.run(None, {self.session.get_inputs()[0].name: chw})
        boxes, labels, scores = (np.asarray(o) for o in outputs[:3])
        keep = scores >= self.score_threshold
        transform = _compose(frame.transform, stretch, frame.source_size)
        src_w, src_h = frame.source_size
        xyxy = transform.to_source_boxes(boxes[keep].reshape(-1, 4))
        kept_labels = labels[keep].astype(np.int64)
        masks = None
        if with_masks and len(outputs) > 3:
            probabilities = np.asarray(outputs[3])[keep]
            masks = [mask_to_rle(transform.to_source_mask(p[0] >= MASK_THRESHOLD)) for p in probabilities]
        detections = Detections(
            xyxy=xyxy,
            labels=kept_labels,
            scores=scores[keep].astype(np.float32),
            class_names=[self.class_name(int(label)) for label in kept_labels],
            masks=masks,
        )
        return FrameResult.from_frame(frame, detections=detections)

    def _predict_semantic(self, frames: list[SampledFrame]) -> list[FrameResult]:
        results = []
        name = self.session.get_inputs()[0].name
        for frame in frames:
            chw, stretch = self._input(frame.image)
            logits = np.asarray(self.session.run(None, {name: chw[None]})[0])[0]
            class_map = logits.argmax(axis=0).astype(np.uint8)
            transform = _compose(frame.transform, stretch, frame.source_size)
            source_map = transform.to_source_mask(class_map)
            counts = np.bincount(source_map.ravel(), minlength=len(self.classes))
            fractions = {
                self.class_name(int(c)): float(counts[c]) / source_map.size for c in np.flatnonzero(counts)
            }
            results.append(
                FrameResult.from_frame(
                    frame, semantic=SemanticResult(fractions=fractions, class_map=source_map)
                )
            )
        return results


def _compose(frame_transform: FrameTransform, stretch: FrameTransform, source_size: tuple[int, int]) -> Any:
    """source -> frame (sampler) followed by frame -> model input (stretch), as one transform."""
    return replace(
        frame_transform,
        scale_x=frame_transform.scale_x * stretch.scale_x,
        scale_y=frame_transform.scale_y * stretch.scale_y,
        offset_x=frame_transform.offset_x * stretch.scale_x,
        offset_y=frame_transform.offset_y * stretch.scale_y,
        source_size=(int(source_size[0]), int(source_size[1])),
    )


def read_metadata(path: str | Path) -> dict[str, str]:
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError, OSError, ...
        raise ModelError(f"{path} is not an ONNX model: {exc}") from None
    return {p.key: p.value for p in proto.metadata_props}


def load_onnx_predictor(
    path: str | Path,
    *,
    spec_name: str | None = None,
    device: str = "auto",
    score_threshold: float = 0.5,
) -> OnnxPredictor:
    """An onnxruntime predictor for a file written by ``reelsight export --onnx``.

    ``spec_name`` is checked against the model named in the file's metadata.
    """
    import onnxruntime as ort

    file = Path(os.path.expanduser(str(path)))
    if not file.is_file():
        raise ModelError(f"ONNX file not found: {file}")
    meta = read_metadata(file)
    layout = meta.get(METADATA_LAYOUT)
    if layout not in (LAYOUT_DETECTION, LAYOUT_SEMANTIC):
        raise ModelError(
            f"{file} was not written by `reelsight export --onnx` (no {METADATA_LAYOUT} metadata)"
        )
    spec = get_spec(meta.get(METADATA_MODEL, spec_name or ""))
    if spec_name is not None and get_spec(spec_name).task != spec.task:
        raise ModelError(f"{file} holds {spec.name} ({spec.task}), not a {get_spec(spec_name).task} model")
    try:
        width, height = (int(v) for v in meta[METADATA_INPUT_SIZE].split("x"))
        classes = tuple(str(c) for c in json.loads(meta[METADATA_CLASSES]))
    except (KeyError, ValueError) as exc:
        raise ModelError(f"{file}: unreadable reelsight metadata ({exc})") from None
    providers, device_name = onnx_providers(device)
    options = ort.SessionOptions()
    threads = os.cpu_count() or 1
    options.intra_op_num_threads = min(threads, 16)
    try:
        session = ort.InferenceSession(str(file), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ModelError(f"onnxruntime cannot load {file}: {exc}") from None
    info = {
        "weights": str(file),
        "weights_source": f"onnx:{meta.get(METADATA_WEIGHTS, 'unknown')}",
        "random_weights": meta.get(METADATA_WEIGHTS, "").startswith("random"),
    }
    return OnnxPredictor(
        spec=replace(spec, classes=classes, framework="onnx"),
        session=session,
        layout=layout,
        input_size=(width, height),
        classes=classes,
        score_threshold=float(score_threshold),
        weights_info=info,
        device=device_name,
    )
