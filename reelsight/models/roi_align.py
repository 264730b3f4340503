"""Multi-scale RoIAlign for the CPU as a weighted gather of feature rows.

torchvision's CPU ``roi_align`` walks every channel of every bin separately on one core;
for Mask R-CNN's 1000 proposals it costs about as much as the box head's arithmetic.
RoIAlign is linear in the features: each output cell is a weighted sum of at most
``4 * sampling_ratio**2`` feature vectors (bilinear taps of the sampling grid). With the
features laid out as rows of C channels (free for channels_last tensors), that is one
``embedding_bag`` call per pyramid level: contiguous row reads, vectorised over channels
and spread over all cores.

The sampling follows torchvision's ``aligned=False`` kernel exactly: the same grid, the
same edge clamping, the same zero outside [-1, size], and the same FPN level mapping, so
results agree up to float rounding. On other devices, for adaptive sampling
(``sampling_ratio <= 0``) the stock module runs instead; bf16 features are pooled in fp32,
as torchvision's autocast rule for ``roi_align`` does.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import MultiScaleRoIAlign

CANONICAL_EPS = 1e-6  # torchvision's LevelMapper epsilon


class GatherRoIAlign(nn.Module):
    """Drop-in for a ``MultiScaleRoIAlign`` that runs as a row gather on the CPU."""

    def __init__(self, stock: MultiScaleRoIAlign) -> None:
        super().__init__()
        self.stock = stock
        self.featmap_names = list(stock.featmap_names)
        self.output_size = (int(stock.output_size[0]), int(stock.output_size[-1]))
        self.sampling_ratio = int(stock.sampling_ratio)
        self.canonical_scale = int(stock.canonical_scale)
        self.canonical_level = int(stock.canonical_level)

    def forward(
        self, x: dict[str, Tensor], boxes: list[Tensor], image_shapes: list[tuple[int, int]]
    ) -> Tensor:
        features = [value for key, value in x.items() if key in self.featmap_names]
        first = features[0]
        if first.device.type != "cpu" or self.sampling_ratio <= 0:
            return self.stock(x, boxes, image_shapes)
        # torchvision's roi_align runs in fp32 under autocast too.
        features = [feature.float() for feature in features]
        first = features[0]
        out_h, out_w = self.output_size
        all_boxes = torch.cat(boxes).to(torch.float32)
        image_ids = torch.cat([torch.full((len(b),), i, dtype=torch.int64) for i, b in enumerate(boxes)])
        result = first.new_zeros((len(all_boxes), out_h, out_w, first.shape[1]))
        if len(all_boxes) == 0:
            return result.permute(0, 3, 1, 2)
        scales = pyramid_scales(features, image_shapes)
        levels = self._levels(all_boxes, scales)
        for level, (feature, scale) in enumerate(zip(features, scales, strict=True)):
            picked = torch.nonzero(levels == level).flatten()
            if len(picked):
                result[picked] = roi_align_rows(
                    feature, all_boxes[picked], image_ids[picked], scale, (out_h, out_w), self.sampling_ratio
                )
        return result.permute(0, 3, 1, 2)  # (K, C, h, w) view, channels_last in memory

    def _levels(self, boxes: Tensor, scales: list[float]) -> Tensor:
        k_min = int(-math.log2(scales[0]))
        k_max = int(-math.log2(scales[-1]))
        if k_min == k_max:
            return torch.zeros(len(boxes), dtype=torch.int64)
        side = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).sqrt()
        target = torch.floor(
            self.canonical_level + torch.log2(side / self.canonical_scale) + torch.tensor(CANONICAL_EPS)
        )
        return target.clamp(min=k_min, max=k_max).to(torch.int64) - k_min


def pyramid_scales(features: list[Tensor], image_shapes: list[tuple[int, int]]) -> list[float]:
    """Each level's feature-to-image scale, a power of two, inferred as torchvision does."""
    max_h = max(int(shape[0]) for shape in image_shapes)
    return [2.0 ** round(math.log2(feature.shape[-2] / max_h)) for feature in features]


def roi_align_rows(
    feature: Tensor,
    boxes: Tensor,
    image_ids: Tensor,
    scale: float,
    output_size: tuple[int, int],
    sampling_ratio: int,
) -> Tensor:
    """RoIAlign (``aligned=False``) of ``boxes`` on one level: (K, out_h, out_w, C)."""
    batch, channels, height, width = feature.shape
    out_h, out_w = output_size
    rows = feature.permute(0, 2, 3, 1).reshape(batch * height * width, channels)  # a view if channels_last
    scaled = boxes * scale
    start_x, start_y = scaled[:, 0], scaled[:, 1]
    roi_w = (scaled[:, 2] - start_x).clamp(min=1.0)
    roi_h = (scaled[:, 3] - start_y).clamp(min=1.0)
    y_index, y_weight = _axis_taps(start_y, roi_h, out_h, sampling_ratio, height)
    x_index, x_weight = _axis_taps(start_x, roi_w, out_w, sampling_ratio, width)
    count = len(boxes)
    taps = 2 * sampling_ratio
    # Every (y tap, x tap) pair of a bin: (K, out_h, out_w, taps_y, taps_x), flattened per bin.
    index = (
        image_ids.view(count, 1, 1, 1, 1) * (height * width)
        + y_index.view(count, out_h, 1, taps, 1) * width
        + x_index.view(count, 1, out_w, 1, taps)
    )
    weight = y_weight.view(count, out_h, 1, taps, 1) * x_weight.view(count, 1, out_w, 1, taps)
    weight = weight / float(sampling_ratio * sampling_ratio)
    pooled = F.embedding_bag(
        index.reshape(count * out_h * out_w, taps * taps),
        rows,
        per_sample_weights=weight.reshape(count * out_h * out_w, taps * taps),
        mode="sum",
    )
    return pooled.view(count, out_h, out_w, channels)


def _axis_taps(
    start: Tensor, length: Tensor, bins: int, sampling_ratio: int, extent: int
) -> tuple[Tensor, Tensor]:
    """Bilinear taps along one axis: indices and weights, both (K, bins, 2 * sampling_ratio).

    For each bin, sample point ``s`` contributes taps ``2s`` (low) and ``2s + 1`` (high).
    """
    steps = (torch.arange(bins * sampling_ratio, dtype=torch.float32) + 0.5) / sampling_ratio
    position = start[:, None] + steps[None, :] * (length / bins)[:, None]
    inside = ((position >= -1.0) & (position <= extent)).to(torch.float32)
    position = position.clamp(min=0.0)
    low = position.floor()
    at_edge = low >= extent - 1
    low = torch.where(at_edge, torch.full_like(low, extent - 1), low)
    position = torch.where(at_edge, low, position)
    high = torch.where(at_edge, low, low + 1)
    fraction = position - low
    weight = torch.stack([(1.0 - fraction) * inside, fraction * inside], dim=-1)
    index = torch.stack([low, high], dim=-1).to(torch.int64)
    shape = (len(start), bins, 2 * sampling_ratio)
    return index.reshape(shape), weight.reshape(shape)
