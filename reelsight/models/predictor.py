"""Batched inference with torchvision models, results in source pixels."""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from reelsight.errors import ModelError, ParamError
from reelsight.models.fold import fold_batch_norms
from reelsight.models.postprocess import clip_boxes, images_to_tensors, masks_to_rle, scale_boxes
from reelsight.models.rcnn_heads import run_roi_heads
from reelsight.models.registry import ModelSpec
from reelsight.models.roi_align import GatherRoIAlign
from reelsight.results import Detections, FrameResult, SemanticResult

if TYPE_CHECKING:
    from reelsight.frames import SampledFrame

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
UNKNOWN_CLASS = 255  # class-map value for source pixels the model never saw (cropped away)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} requested but CUDA is not available on this machine")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise ParamError(f"device must be auto, cpu, cuda or cuda:N, got {device!r}") from exc


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' is fp16 autocast on CUDA and plain fp32 on the CPU."""
    if precision == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    if precision not in ("fp32", "bf16", "fp16"):
        raise ParamError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}")
    if precision == "fp16" and device.type != "cuda":
        raise ParamError("precision fp16 needs a CUDA device; on the CPU use bf16 or fp32")
    return precision


class TorchvisionPredictor:
    """Runs one torchvision model on batches of ``SampledFrame``s.

    Detection boxes are mapped back to source pixels with each frame's transform; instance
    masks are pasted straight into the source frame size (all masks of a frame at once),
    thresholded on the device and encoded as COCO RLE. Semantic class maps are resampled
    to the source size (nearest) so every result is in source pixels.

    The module is prepared for inference without changing its results: batch norms are
    folded into their convolutions, and on the CPU the model runs channels_last with
    gather-based RoI pooling (see docs/models.md).
    """

    def __init__(
        self,
        module: torch.nn.Module,
        spec: ModelSpec,
        *,
        classes: tuple[str, ...],
        weights_info: dict[str, Any],
        device: torch.device,
        precision: str,
        score_threshold: float,
        mask_threshold: float = 0.5,
    ) -> None:
        self.spec = spec
        self.classes = classes
        self.weights_info = dict(weights_info)
        self.torch_device = device
        self.device = str(device)
        self.precision = precision
        self.score_threshold = float(score_threshold)
        self.mask_threshold = mask_threshold
        if getattr(module, "aux_classifier", None) is not None:
            module.aux_classifier = None  # type: ignore[assignment]  # training-only head; skip its cost
        module = module.eval().to(device)
        fold_batch_norms(module)  # the same model, one pass over each activation map fewer
        self.channels_last = device.type == "cpu"  # oneDNN's fast layout, in fp32 as in bf16
        if self.channels_last:
            module = module.to(memory_format=torch.channels_last)
        self.module = module
        self._box_pool, self._mask_pool = _gather_pools(module) if device.type == "cpu" else (None, None)

    # --- public ---------------------------------------------------------------------------

    def predict(self, frames: list[SampledFrame], *, with_masks: bool = True) -> list[FrameResult]:
        if not frames:
            return []
        with torch.inference_mode(), self._autocast():
            if self.spec.task == "semantic_segmentation":
                return self._predict_semantic(frames)
            return self._predict_detection(frames, with_masks=with_masks and self.spec.has_masks)

    def class_name(self, label: int) -> str:
        return self.classes[label] if 0 <= label < len(self.classes) else f"class_{label}"

    # --- internals --------------------------------------------------------------------------

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(device_type=self.torch_device.type, dtype=dtype)

    def _raw_detections(
        self, tensors: list[torch.Tensor], *, with_masks: bool = True
    ) -> list[dict[str, torch.Tensor]]:
        """Model outputs with boxes in the input image's pixels and masks still at M x M."""
        model: Any = self.module
        original_sizes = [(int(t.shape[-2]), int(t.shape[-1])) for t in tensors]
        if not hasattr(model, "roi_heads"):
            # Single-stage detectors have no mask head: their own forward is already lean.
            return list(model(tensors))
        images, _ = model.transform(tensors)
        tensors_in = images.tensors
        if self.channels_last:
            tensors_in = tensors_in.contiguous(memory_format=torch.channels_last)
        features = model.backbone(tensors_in)
        if isinstance(features, torch.Tensor):
            features = OrderedDict([("0", features)])
        proposals, _ = model.rpn(images, features)
        detections = run_roi_heads(
            model.roi_heads,
            features,
            proposals,
            images.image_sizes,
            box_pool=self._box_pool,
            mask_pool=self._mask_pool,
            with_masks=with_masks,
        )
        for det, resized, original in zip(detections, images.image_sizes, original_sizes, strict=True):
            det["boxes"] = scale_boxes(det["boxes"], (int(resized[0]), int(resized[1])), original)
        return list(detections)

    def _predict_detection(self, frames: list[SampledFrame], *, with_masks: bool) -> list[FrameResult]:
        tensors = images_to_tensors([f.image for f in frames], self.torch_device)
        raw = self._raw_detections(tensors, with_masks=with_masks)
        results = []
        for frame, det in zip(frames, raw, strict=True):
            scores = det["scores"].float()
            keep = scores >= self.score_threshold
            boxes_in = det["boxes"][keep].float()
            src_w, src_h = frame.source_size
            xyxy = clip_boxes(frame.transform.to_source_boxes(boxes_in.cpu().numpy()), src_w, src_h)
            labels = det["labels"][keep].cpu().numpy().astype(np.int64)
            masks = None
            if with_masks and "masks" in det:
                source_boxes = torch.from_numpy(xyxy).to(self.torch_device)
                masks = masks_to_rle(det["masks"][keep], source_boxes, src_h, src_w, self.mask_threshold)
            detections = Detections(
                xyxy=xyxy,
                labels=labels,
                scores=scores[keep].cpu().numpy(),
                class_names=[self.class_name(int(label)) for label in labels],
                masks=masks,
            )
            results.append(FrameResult.from_frame(frame, detections=detections))
        return results

    def _predict_semantic(self, frames: list[SampledFrame]) -> list[FrameResult]:
        results: dict[int, FrameResult] = {}
        for group in _same_size_groups(frames):
            tensors = images_to_tensors([f.image for f in group], self.torch_device)
            batch = torch.stack(tensors)
            mean = torch.tensor(IMAGENET_MEAN, device=batch.device)[None, :, None, None]
            std = torch.tensor(IMAGENET_STD, device=batch.device)[None, :, None, None]
            batch = (batch - mean) / std
            if self.channels_last:
                batch = batch.contiguous(memory_format=torch.channels_last)
            logits = self.module(batch)["out"]
            class_maps = logits.argmax(dim=1).to(torch.uint8)  # (B, h, w) in resized-frame pixels
            for frame, class_map in zip(group, class_maps, strict=True):
                source_map = _to_source_map(class_map, frame)
                results[id(frame)] = FrameResult.from_frame(frame, semantic=self._semantic(source_map))
        return [results[id(f)] for f in frames]

    def _semantic(self, source_map: torch.Tensor) -> SemanticResult:
        counts = torch.bincount(source_map.flatten().long(), minlength=256).cpu().numpy()
        seen = int(counts[:UNKNOWN_CLASS].sum())
        fractions = {
            self.class_name(cls): float(counts[cls]) / seen for cls in np.flatnonzero(counts[:UNKNOWN_CLASS])
        }
        return SemanticResult(fractions=fractions, class_map=source_map.cpu().numpy())


def _gather_pools(module: torch.nn.Module) -> tuple[GatherRoIAlign | None, GatherRoIAlign | None]:
    """CPU-fast stand-ins for a two-stage detector's RoI pools. They are kept outside the
    module, whose own forward (the one ONNX export traces) keeps torchvision's pools."""
    from torchvision.ops import MultiScaleRoIAlign

    heads = getattr(module, "roi_heads", None)
    pools = []
    for name in ("box_roi_pool", "mask_roi_pool"):
        stock = getattr(heads, name, None)
        pools.append(GatherRoIAlign(stock) if isinstance(stock, MultiScaleRoIAlign) else None)
    return pools[0], pools[1]


def _same_size_groups(frames: list[SampledFrame]) -> Iterator[list[SampledFrame]]:
    groups: dict[tuple[int, ...], list[SampledFrame]] = {}
    for frame in frames:
        groups.setdefault(tuple(frame.image.shape), []).append(frame)
    yield from groups.values()


def _to_source_map(class_map: torch.Tensor, frame: SampledFrame) -> torch.Tensor:
    """Nearest-neighbour resample of a resized-frame class map to source pixels."""
    t = frame.transform
    src_w, src_h = frame.source_size
    h, w = class_map.shape
    if (w, h) == (src_w, src_h) and (t.scale_x, t.scale_y, t.offset_x, t.offset_y) == (1.0, 1.0, 0.0, 0.0):
        return class_map
    device = class_map.device
    xs = torch.floor((torch.arange(src_w, device=device) + 0.5) * t.scale_x + t.offset_x).long()
    ys = torch.floor((torch.arange(src_h, device=device) + 0.5) * t.scale_y + t.offset_y).long()
    valid = ((ys >= 0) & (ys < h))[:, None] & ((xs >= 0) & (xs < w))[None, :]
    picked = class_map[ys.clamp(0, h - 1)][:, xs.clamp(0, w - 1)]
    return torch.where(valid, picked, torch.full_like(picked, UNKNOWN_CLASS))
