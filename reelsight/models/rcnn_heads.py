"""Two-stage detector heads at inference, run part by part.

Equivalent to torchvision's ``RoIHeads.forward`` in eval mode, with two changes that
leave the results the same (up to float rounding):

- RoI pooling can be swapped for ``GatherRoIAlign`` (much faster on the CPU);
- the mask predictor's last 1x1 convolution is evaluated for each detection's own class
  only, instead of all classes followed by a pick (1/91 of the work for COCO).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torchvision.models.detection.mask_rcnn import MaskRCNNPredictor


def run_roi_heads(
    roi_heads: nn.Module,
    features: dict[str, Tensor],
    proposals: list[Tensor],
    image_sizes: list[tuple[int, int]],
    *,
    box_pool: nn.Module | None = None,
    mask_pool: nn.Module | None = None,
    with_masks: bool = True,
) -> list[dict[str, Tensor]]:
    """Detections per image: boxes (input pixels), labels, scores and, for Mask R-CNN, masks
    as (N, 1, M, M) probabilities. ``with_masks=False`` skips the mask branch entirely."""
    heads: Any = roi_heads  # torchvision RoIHeads: its parts are typed loosely
    box_features = (box_pool or heads.box_roi_pool)(features, proposals, image_sizes)
    box_features = heads.box_head(box_features)
    class_logits, box_regression = heads.box_predictor(box_features)
    boxes, scores, labels = heads.postprocess_detections(class_logits, box_regression, proposals, image_sizes)
    results = [
        {"boxes": b, "labels": lab, "scores": s} for b, s, lab in zip(boxes, scores, labels, strict=True)
    ]
    if with_masks and heads.has_mask():
        mask_features = (mask_pool or heads.mask_roi_pool)(features, boxes, image_sizes)
        mask_features = heads.mask_head(mask_features)
        probabilities = labelled_mask_probabilities(heads.mask_predictor, mask_features, torch.cat(labels))
        for result, masks in zip(results, probabilities.split([len(b) for b in boxes]), strict=True):
            result["masks"] = masks
    return results


def labelled_mask_probabilities(predictor: nn.Module, features: Tensor, labels: Tensor) -> Tensor:
    """Sigmoid mask of each RoI's own class: (N, 1, M, M)."""
    logits_layer = getattr(predictor, "mask_fcn_logits", None)
    if (
        isinstance(predictor, MaskRCNNPredictor)
        and isinstance(logits_layer, nn.Conv2d)
        and logits_layer.kernel_size == (1, 1)
        and logits_layer.bias is not None
    ):
        hidden = predictor.relu(predictor.conv5_mask(features))
        weight = logits_layer.weight[labels, :, 0, 0]  # (N, C): one class row per RoI
        logits = torch.einsum("nchw,nc->nhw", hidden, weight.to(hidden.dtype))
        logits = logits + logits_layer.bias[labels].to(logits.dtype)[:, None, None]
        return logits.sigmoid()[:, None]
    logits = predictor(features)
    return logits.sigmoid()[torch.arange(len(labels), device=labels.device), labels][:, None]
