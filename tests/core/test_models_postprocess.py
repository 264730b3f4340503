"""Post-processing: batched mask paste, RLE, RGB input order and source-pixel mapping."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.models.detection.roi_heads import paste_masks_in_image

from reelsight.frames import FrameTransform, SampledFrame
from reelsight.models.postprocess import encode_masks, images_to_tensors, masks_to_rle, paste_masks
from reelsight.models.predictor import TorchvisionPredictor
from reelsight.models.registry import get_spec
from reelsight.results import mask_to_rle, rle_to_mask


def _random_case(seed: int, n: int, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    masks = torch.rand(n, 1, 28, 28, generator=gen)
    size = torch.tensor([width, height], dtype=torch.float32)
    xy = torch.rand(n, 2, generator=gen) * size * 0.9
    wh = torch.rand(n, 2, generator=gen) * size * 0.6 + 1
    boxes = torch.cat([xy, torch.minimum(xy + wh, size)], dim=1)
    return masks, boxes


@pytest.mark.parametrize(
    ("seed", "n", "height", "width"), [(0, 12, 120, 160), (1, 30, 97, 211), (2, 1, 64, 64)]
)
def test_batched_paste_matches_torchvision(seed: int, n: int, height: int, width: int) -> None:
    masks, boxes = _random_case(seed, n, height, width)
    expected = paste_masks_in_image(masks, boxes, (height, width))[:, 0]
    got = paste_masks(masks, boxes, height, width)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=1e-4)
    disagree = ((got > 0.5) != (expected > 0.5)).sum().item()
    assert disagree <= n  # only ties within float error can flip


def test_paste_is_zero_outside_the_box() -> None:
    masks = torch.ones(1, 1, 28, 28)
    boxes = torch.tensor([[10.0, 20.0, 30.0, 40.0]])
    pasted = paste_masks(masks, boxes, 64, 64)[0] > 0.5
    ys, xs = np.nonzero(pasted.numpy())
    assert xs.min() >= 8 and xs.max() <= 32 and ys.min() >= 18 and ys.max() <= 42
    assert pasted[30, 20] and not pasted[5, 5] and not pasted[60, 60]


def test_rle_of_batched_paste_equals_thresholded_stock_paste() -> None:
    masks, boxes = _random_case(3, 9, 90, 130)
    rles = masks_to_rle(masks, boxes, 90, 130, threshold=0.5)
    stock = (paste_masks_in_image(masks, boxes, (90, 130))[:, 0] > 0.5).numpy()
    assert len(rles) == 9
    for rle, expected in zip(rles, stock, strict=True):
        assert rle["size"] == [90, 130] and isinstance(rle["counts"], str)
        assert (rle_to_mask(rle) != expected).sum() <= 2


@pytest.mark.parametrize(("seed", "n", "height", "width"), [(4, 25, 97, 211), (5, 7, 240, 320)])
def test_window_rle_equals_rle_of_full_masks(seed: int, n: int, height: int, width: int) -> None:
    masks, boxes = _random_case(seed, n, height, width)
    masks[0] = 1.0  # a solid mask: runs cross from the bottom of one column to the top of the next
    boxes[0] = torch.tensor([-20.0, -20.0, width + 20.0, height + 20.0])  # ... and reach the last pixel
    masks[1] = 0.0  # an empty mask
    full = (paste_masks(masks, boxes, height, width) > 0.5).numpy()
    assert full[0].all() and not full[1].any()
    assert masks_to_rle(masks, boxes, height, width) == [mask_to_rle(m) for m in full]
    assert masks_to_rle(masks[:0], boxes[:0], height, width) == []


def test_encode_masks_matches_single_mask_encoder() -> None:
    rng = np.random.default_rng(0)
    binary = rng.random((5, 33, 47)) > 0.6
    batch = encode_masks(binary)
    assert batch == [mask_to_rle(m) for m in binary]
    assert encode_masks(np.zeros((0, 10, 10), bool)) == []


def test_input_tensors_keep_rgb_order() -> None:
    image = np.zeros((4, 6, 3), dtype=np.uint8)
    image[..., 0] = 255  # pure red
    image[..., 2] = 51
    (tensor,) = images_to_tensors([image], torch.device("cpu"))
    assert tensor.shape == (3, 4, 6)
    assert torch.all(tensor[0] == 1.0) and torch.all(tensor[1] == 0.0)
    assert torch.allclose(tensor[2], torch.full((4, 6), 0.2))


class _ScriptedPredictor(TorchvisionPredictor):
    """Real post-processing, scripted model output (boxes in the resized frame's pixels)."""

    def __init__(self, raw: list[dict[str, torch.Tensor]]) -> None:
        super().__init__(
            torch.nn.Identity(),
            get_spec("maskrcnn"),
            classes=get_spec("maskrcnn").classes,
            weights_info={"weights": "scripted", "weights_source": "test", "random_weights": True},
            device=torch.device("cpu"),
            precision="fp32",
            score_threshold=0.5,
        )
        self.raw = raw

    def _raw_detections(
        self, tensors: list[torch.Tensor], *, with_masks: bool = True
    ) -> list[dict[str, torch.Tensor]]:
        return self.raw if with_masks else [{k: v for k, v in d.items() if k != "masks"} for d in self.raw]


def test_boxes_and_masks_come_back_in_source_pixels() -> None:
    # Source 400x200 letterboxed into 200x200: scale 0.5, 50 px bars top and bottom.
    transform = FrameTransform(0.5, 0.5, 0.0, 50.0, (400, 200))
    frame = SampledFrame(
        index=7,
        timestamp=0.25,
        image=np.zeros((200, 200, 3), np.uint8),
        source_size=(400, 200),
        transform=transform,
        keyframe=False,
    )
    raw = [
        {
            "boxes": torch.tensor([[20.0, 60.0, 60.0, 100.0], [0.0, 0.0, 10.0, 10.0]]),
            "labels": torch.tensor([1, 3]),
            "scores": torch.tensor([0.9, 0.2]),  # the second is below the threshold
            "masks": torch.ones(2, 1, 28, 28),
        }
    ]
    (result,) = _ScriptedPredictor(raw).predict([frame])
    assert (result.frame_index, result.timestamp, result.width, result.height) == (7, 0.25, 400, 200)
    det = result.detections
    assert det is not None and len(det) == 1
    np.testing.assert_allclose(det.xyxy[0], [40.0, 20.0, 120.0, 100.0])
    assert det.class_names == ["person"] and det.labels.tolist() == [1]
    assert det.masks is not None
    mask = rle_to_mask(det.masks[0])
    assert mask.shape == (200, 400)
    ys, xs = np.nonzero(mask)
    assert abs(xs.min() - 40) <= 3 and abs(xs.max() - 120) <= 3
    assert abs(ys.min() - 20) <= 3 and abs(ys.max() - 100) <= 3


def test_with_masks_false_skips_masks() -> None:
    frame = SampledFrame(
        index=0,
        timestamp=0.0,
        image=np.zeros((50, 50, 3), np.uint8),
        source_size=(50, 50),
        transform=FrameTransform(source_size=(50, 50)),
        keyframe=True,
    )
    raw = [
        {
            "boxes": torch.tensor([[1.0, 2.0, 30.0, 40.0]]),
            "labels": torch.tensor([90]),
            "scores": torch.tensor([0.7]),
            "masks": torch.ones(1, 1, 28, 28),
        }
    ]
    (result,) = _ScriptedPredictor(raw).predict([frame], with_masks=False)
    assert result.detections is not None and result.detections.masks is None
    assert result.detections.class_names == ["toothbrush"]
