"""Turning raw model outputs into results in source pixels, without a loop per detection.

torchvision pastes each instance mask into the image with its own interpolate call,
which dominates Mask R-CNN's run time at video resolutions. ``paste_masks`` does the
same bilinear resampling for all masks at once: because the box-to-image mapping is
axis-aligned, the interpolation separates into two small weight matrices per mask and
the paste becomes two batched matrix products.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

# Upper bound on pixels of one chunk of pasted masks (N * H * W): 2**24 is 16 MiB of booleans.
PASTE_CHUNK_ELEMENTS = 1 << 24


def images_to_tensors(images: list[np.ndarray], device: torch.device) -> list[torch.Tensor]:
    """RGB uint8 HxWx3 frames -> float (3, H, W) tensors in [0, 1], channel order kept (R, G, B)."""
    out = []
    for image in images:
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an RGB HxWx3 image, got shape {image.shape}")
        tensor = torch.from_numpy(np.ascontiguousarray(image)).to(device, non_blocking=True)
        out.append(tensor.permute(2, 0, 1).float().div_(255.0))
    return out


def expand_boxes_for_padding(boxes: torch.Tensor, mask_size: int, padding: int = 1) -> torch.Tensor:
    """Grow boxes around their centre by (M + 2p) / M, as torchvision does before pasting."""
    scale = float(mask_size + 2 * padding) / mask_size
    centre = (boxes[:, :2] + boxes[:, 2:]) * 0.5
    half = (boxes[:, 2:] - boxes[:, :2]) * 0.5 * scale
    return torch.cat([centre - half, centre + half], dim=1)


def _axis_weights(
    lo: torch.Tensor, hi: torch.Tensor, start: torch.Tensor, span: int, length: int, m: int
) -> torch.Tensor:
    """(N, span, m) bilinear weights of m mask cells for pixels start .. start+span-1 of an axis.

    The mask covers pixels lo..hi (inclusive). This matches ``F.interpolate(mode="bilinear",
    align_corners=False)`` of the mask to the box size followed by a paste clipped to the
    image: pixels outside the box or the image get no weight.
    """
    device = lo.device
    size = (hi - lo + 1).clamp(min=1).to(torch.float32)
    pixels = start[:, None] + torch.arange(span, device=device)[None, :]  # (N, span) absolute
    rel = (pixels - lo[:, None]).to(torch.float32)
    inside = (rel >= 0) & (rel < size[:, None]) & (pixels < length)
    src = ((rel + 0.5) * (m / size[:, None]) - 0.5).clamp(min=0)
    i0 = src.floor().clamp(max=m - 1)
    frac = (src - i0) * (i0 < m - 1)
    i0 = i0.long()
    i1 = (i0 + 1).clamp(max=m - 1)
    keep = inside.to(torch.float32)
    weights = torch.zeros((lo.shape[0], span, m), device=device, dtype=torch.float32)
    weights.scatter_add_(2, i0[..., None], ((1.0 - frac) * keep)[..., None])
    weights.scatter_add_(2, i1[..., None], (frac * keep)[..., None])
    return weights


def _resample_windows(
    masks: torch.Tensor, int_boxes: torch.Tensor, height: int, width: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each mask resampled over its box's window: ((N, span_w, span_h) values, x0, y0).

    Windows are column-major (x first) and share one size, the largest box of the chunk;
    cells outside a box or past the image edge are 0.
    """
    m = masks.shape[-1]
    x0 = int_boxes[:, 0].clamp(0, width)
    y0 = int_boxes[:, 1].clamp(0, height)
    x1 = (int_boxes[:, 2] + 1).clamp(0, width)
    y1 = (int_boxes[:, 3] + 1).clamp(0, height)
    span_w = max(int((x1 - x0).max()), 1)
    span_h = max(int((y1 - y0).max()), 1)
    wy = _axis_weights(int_boxes[:, 1], int_boxes[:, 3], y0, span_h, height, m)  # (N, span_h, m)
    wx = _axis_weights(int_boxes[:, 0], int_boxes[:, 2], x0, span_w, width, m)  # (N, span_w, m)
    local = torch.bmm(torch.bmm(wx, masks.transpose(1, 2)), wy.transpose(1, 2))  # (N, span_w, span_h)
    return local, x0, y0


def _paste_chunk(
    masks: torch.Tensor, int_boxes: torch.Tensor, height: int, width: int, threshold: float | None
) -> torch.Tensor:
    """Scatter the resampled windows into full images: (N, W, H), each mask column-major."""
    local, x0, y0 = _resample_windows(masks, int_boxes, height, width)
    n, span_w, span_h = local.shape
    device = local.device
    values = local > threshold if threshold is not None else local
    cols = x0[:, None] + torch.arange(span_w, device=device)[None, :]  # (N, span_w)
    rows = y0[:, None] + torch.arange(span_h, device=device)[None, :]  # (N, span_h)
    plane = width * height
    flat = (
        (torch.arange(n, device=device) * plane)[:, None, None] + cols[:, :, None] * height + rows[:, None, :]
    )
    inside = (cols < width)[:, :, None] & (rows < height)[:, None, :]
    flat = torch.where(inside, flat, n * plane)  # window cells past the image edge go to one spare cell
    out = torch.zeros(n * plane + 1, dtype=values.dtype, device=device)
    out[flat.reshape(-1)] = values.reshape(-1)
    return out[:-1].view(n, width, height)


def _window_run_bounds(
    binary: torch.Tensor, x0: torch.Tensor, y0: torch.Tensor, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """Where runs of 1s start and end in each full mask's column-major order, from the windows.

    Returns (mask id, position) pairs sorted by mask then position, alternating start, end.
    Only the window cells are touched: the cost follows box area, not image area.
    """
    padded = torch.nn.functional.pad(binary.to(torch.int8), (1, 1))  # a 0 above and below each column
    change = padded[:, :, 1:] != padded[:, :, :-1]  # (N, span_w, span_h + 1): boundary before cell j
    ids, xs, js = change.nonzero(as_tuple=True)
    positions = (x0[ids] + xs) * height + y0[ids] + js
    ids_np = ids.cpu().numpy()
    pos_np = positions.cpu().numpy()
    # A run that reaches the bottom of a column and one that starts at the top of the next
    # are one run in column-major order: drop the end/start pair between them.
    joined = np.flatnonzero((ids_np[1:] == ids_np[:-1]) & (pos_np[1:] == pos_np[:-1]))
    if joined.size:
        keep = np.ones(ids_np.size, bool)
        keep[joined] = False
        keep[joined + 1] = False
        ids_np, pos_np = ids_np[keep], pos_np[keep]
    return ids_np, pos_np


def _rles_from_bounds(
    ids: np.ndarray, positions: np.ndarray, count: int, height: int, width: int
) -> list[dict[str, Any]]:
    from pycocotools import mask as coco_mask

    total = height * width
    splits = np.searchsorted(ids, np.arange(1, count))
    uncompressed = []
    for bounds in np.split(positions, splits):
        # Run lengths from 0 to the end of the image; a mask that reaches the very last
        # pixel ends on a run of 1s, with no trailing zero-length run.
        ends = [total] if bounds.size == 0 or bounds[-1] != total else []
        edges = np.concatenate(([0], bounds, ends))
        uncompressed.append({"size": [height, width], "counts": np.diff(edges).astype(np.uint32)})
    encoded = coco_mask.frPyObjects(uncompressed, height, width)
    return [{"size": [height, width], "counts": rle["counts"].decode("ascii")} for rle in encoded]


def _prepare(masks: torch.Tensor, boxes: torch.Tensor, padding: int) -> tuple[torch.Tensor, torch.Tensor]:
    if masks.ndim == 4:
        masks = masks[:, 0]
    masks = masks.to(torch.float32)
    m = masks.shape[-1]
    padded = torch.nn.functional.pad(masks, (padding,) * 4)
    # torchvision truncates the grown box towards zero; doing the same keeps results identical.
    int_boxes = expand_boxes_for_padding(boxes.to(torch.float32), m, padding).to(torch.int64)
    return padded, int_boxes


def chunk_size(height: int, width: int) -> int:
    return max(1, PASTE_CHUNK_ELEMENTS // max(1, height * width))


def paste_masks(
    masks: torch.Tensor, boxes: torch.Tensor, height: int, width: int, padding: int = 1
) -> torch.Tensor:
    """Paste (N, [1,] M, M) mask probabilities into (N, H, W) image-sized maps, all at once.

    ``boxes`` are (N, 4) x1, y1, x2, y2 in the target image's pixels.
    """
    padded, int_boxes = _prepare(masks, boxes, padding)
    if padded.shape[0] == 0:
        return padded.new_zeros((0, height, width))
    step = chunk_size(height, width)
    parts = [
        _paste_chunk(padded[i : i + step], int_boxes[i : i + step], height, width, None)
        for i in range(0, padded.shape[0], step)
    ]
    return torch.cat(parts, dim=0).transpose(1, 2)


def iter_binary_masks(
    masks: torch.Tensor,
    boxes: torch.Tensor,
    height: int,
    width: int,
    threshold: float = 0.5,
    padding: int = 1,
) -> Iterator[np.ndarray]:
    """Yield host (n, H, W) bool arrays, chunk by chunk; thresholding happens on the device.

    Each array is a transposed view of a C-ordered (n, W, H) array, i.e. column-major per
    mask, the layout COCO RLE walks, so encoding needs no further copy.
    """
    padded, int_boxes = _prepare(masks, boxes, padding)
    step = chunk_size(height, width)
    for i in range(0, padded.shape[0], step):
        binary = _paste_chunk(padded[i : i + step], int_boxes[i : i + step], height, width, threshold)
        yield binary.cpu().numpy().transpose(0, 2, 1)


def encode_masks(binary: np.ndarray) -> list[dict[str, Any]]:
    """(N, H, W) bool -> COCO compressed RLE dicts, encoded in one pycocotools call."""
    from pycocotools import mask as coco_mask

    if binary.shape[0] == 0:
        return []
    # pycocotools wants (H, W, N) in Fortran order; asfortranarray is free for column-major input.
    fortran = np.asfortranarray(binary.transpose(1, 2, 0)).view(np.uint8)
    encoded = coco_mask.encode(fortran)
    return [
        {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")} for rle in encoded
    ]


def masks_to_rle(
    masks: torch.Tensor, boxes: torch.Tensor, height: int, width: int, threshold: float = 0.5
) -> list[dict[str, Any]]:
    """Paste, threshold (on the device) and COCO-RLE-encode all masks of one image.

    The full-size masks are never materialised: run boundaries come from each box's window,
    and pycocotools compresses all of them in one call.
    """
    padded, int_boxes = _prepare(masks, boxes, 1)
    if padded.shape[0] == 0:
        return []
    rles: list[dict[str, Any]] = []
    step = chunk_size(height, width)
    for i in range(0, padded.shape[0], step):
        local, x0, y0 = _resample_windows(padded[i : i + step], int_boxes[i : i + step], height, width)
        ids, positions = _window_run_bounds(local > threshold, x0, y0, height)
        rles.extend(_rles_from_bounds(ids, positions, local.shape[0], height, width))
    return rles


def scale_boxes(boxes: torch.Tensor, from_hw: tuple[int, int], to_hw: tuple[int, int]) -> torch.Tensor:
    """Rescale x1, y1, x2, y2 boxes between two sizes of the same image."""
    ratio_h = to_hw[0] / from_hw[0]
    ratio_w = to_hw[1] / from_hw[1]
    factors = torch.tensor([ratio_w, ratio_h, ratio_w, ratio_h], device=boxes.device, dtype=torch.float32)
    return boxes.to(torch.float32) * factors


def clip_boxes(xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    out = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4).copy()
    out[:, 0::2] = out[:, 0::2].clip(0, width)
    out[:, 1::2] = out[:, 1::2].clip(0, height)
    return out
