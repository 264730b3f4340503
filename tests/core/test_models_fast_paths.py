"""CPU fast paths give the stock torchvision results: gather RoIAlign, folded batch norms,
class-only mask logits, and the predictor that combines them."""

from __future__ import annotations

import copy
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.ops import MultiScaleRoIAlign

from reelsight.frames import FrameTransform, SampledFrame
from reelsight.models import load_predictor
from reelsight.models.fold import fold_batch_norms
from reelsight.models.rcnn_heads import labelled_mask_probabilities, run_roi_heads
from reelsight.models.registry import get_spec
from reelsight.models.roi_align import GatherRoIAlign
from reelsight.models.weights import build_random, builder_kwargs

IMAGE_SHAPES = [(200, 320), (160, 288)]  # (h, w) of two images padded to 224 x 320


def _features(channels_last: bool) -> OrderedDict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    features = OrderedDict()
    for level, stride in enumerate((4, 8, 16, 32)):
        feature = torch.rand(2, 8, 224 // stride, 320 // stride, generator=generator)
        if channels_last:
            feature = feature.contiguous(memory_format=torch.channels_last)
        features[str(level)] = feature
    return features


def _boxes(count: int, seed: int, height: int, width: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    corner = torch.rand(count, 2, generator=generator) * torch.tensor([width * 1.2, height * 1.2]) - 20
    size = torch.rand(count, 2, generator=generator) ** 3 * torch.tensor([width, height])
    boxes = torch.cat([corner, corner + size], dim=1)
    edge_cases = torch.tensor(
        [
            [0.0, 0.0, width, height],  # the whole image
            [width - 1.5, height - 1.5, width + 0.5, height + 0.5],  # past the bottom-right corner
            [10.0, 10.0, 10.2, 10.3],  # far under one feature cell
            [-30.0, -30.0, -5.0, -5.0],  # outside: every sample past -1
        ]
    )
    return torch.cat([boxes, edge_cases])


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("output_size", [7, 14, (6, 9)])
def test_gather_roi_align_matches_torchvision(
    channels_last: bool, output_size: int | tuple[int, int]
) -> None:
    stock = MultiScaleRoIAlign(["0", "1", "2", "3"], output_size, sampling_ratio=2)
    features = _features(channels_last)
    boxes = [_boxes(60, 1, *IMAGE_SHAPES[0]), _boxes(45, 2, *IMAGE_SHAPES[1])]
    expected = stock(features, boxes, IMAGE_SHAPES)
    got = GatherRoIAlign(copy.deepcopy(stock))(features, boxes, IMAGE_SHAPES)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=3e-5, rtol=1e-4)  # sample positions differ by float ulps
    assert expected.abs().sum() > 0 and got[-1].abs().sum() == 0  # the box outside pools zeros


def test_gather_roi_align_handles_no_boxes_and_an_image_without_boxes() -> None:
    stock = MultiScaleRoIAlign(["0", "1", "2", "3"], 7, sampling_ratio=2)
    gather = GatherRoIAlign(stock)
    features = _features(channels_last=True)
    empty = gather(features, [torch.zeros(0, 4), torch.zeros(0, 4)], IMAGE_SHAPES)
    assert empty.shape == (0, 8, 7, 7)
    boxes = [torch.zeros(0, 4), _boxes(10, 3, *IMAGE_SHAPES[1])]
    torch.testing.assert_close(gather(features, boxes, IMAGE_SHAPES), stock(features, boxes, IMAGE_SHAPES))


def test_gather_roi_align_leaves_adaptive_sampling_to_torchvision() -> None:
    stock = MultiScaleRoIAlign(["0", "1", "2", "3"], 7, sampling_ratio=0)
    features = _features(channels_last=False)
    boxes = [_boxes(20, 4, *IMAGE_SHAPES[0]), _boxes(5, 5, *IMAGE_SHAPES[1])]
    expected = stock(features, boxes, IMAGE_SHAPES)
    assert torch.equal(GatherRoIAlign(stock)(features, boxes, IMAGE_SHAPES), expected)


def test_gather_roi_align_pools_bf16_features_in_fp32() -> None:
    stock = MultiScaleRoIAlign(["0", "1", "2", "3"], 7, sampling_ratio=2)
    features = OrderedDict((k, v.to(torch.bfloat16)) for k, v in _features(channels_last=True).items())
    boxes = [_boxes(30, 6, *IMAGE_SHAPES[0]), _boxes(30, 7, *IMAGE_SHAPES[1])]
    got = GatherRoIAlign(stock)(features, boxes, IMAGE_SHAPES)
    expected = stock(OrderedDict((k, v.float()) for k, v in features.items()), boxes, IMAGE_SHAPES)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected, atol=3e-5, rtol=1e-4)  # sample positions differ by float ulps


def _random_detector(name: str, **kwargs: int) -> nn.Module:
    spec = get_spec(name)
    model = build_random(spec, seed=3, kwargs=builder_kwargs(spec, 0.05, kwargs or None))
    return model.eval()


def test_folding_batch_norms_keeps_the_backbone_output() -> None:
    model = _random_detector("maskrcnn")
    folded = copy.deepcopy(model)
    assert fold_batch_norms(folded) == 53  # the stem, 16 bottlenecks x 3 and 4 downsample branches
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    image = torch.rand(1, 3, 160, 224)
    with torch.inference_mode():
        expected, got = model.backbone(image), folded.backbone(image)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], atol=2e-4, rtol=1e-4)


def test_folding_needs_eval_mode_and_a_norm_right_after_its_conv() -> None:
    with pytest.raises(ValueError, match="eval mode"):
        fold_batch_norms(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).train())
    # A norm after an activation is not the conv's affine tail: it must stay.
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.BatchNorm2d(4)).eval()
    assert fold_batch_norms(net) == 0 and isinstance(net[2], nn.BatchNorm2d)


def test_class_only_mask_logits_equal_the_stock_pick() -> None:
    predictor = _random_detector("maskrcnn").roi_heads.mask_predictor
    features = torch.rand(12, 256, 14, 14)
    labels = torch.randint(1, 91, (12,), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        stock = predictor(features).sigmoid()[torch.arange(12), labels][:, None]
        got = labelled_mask_probabilities(predictor, features, labels)
        generic = labelled_mask_probabilities(nn.Sequential(*predictor.children()), features, labels)
    assert got.shape == (12, 1, 28, 28)
    torch.testing.assert_close(got, stock, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(generic, stock)


def test_run_roi_heads_matches_torchvision_roi_heads() -> None:
    model = _random_detector("maskrcnn", min_size=160, max_size=256)
    images, _ = model.transform([torch.rand(3, 150, 240), torch.rand(3, 120, 200)])
    heads = model.roi_heads
    with torch.inference_mode():
        features = model.backbone(images.tensors)
        proposals, _ = model.rpn(images, features)
        expected, _ = heads(features, proposals, images.image_sizes)
        got = run_roi_heads(
            heads,
            features,
            proposals,
            images.image_sizes,
            box_pool=GatherRoIAlign(heads.box_roi_pool),
            mask_pool=GatherRoIAlign(heads.mask_roi_pool),
        )
        boxes_only = run_roi_heads(heads, features, proposals, images.image_sizes, with_masks=False)
    for want, have in zip(expected, got, strict=True):
        assert len(want["boxes"]) > 10
        assert torch.equal(want["labels"], have["labels"])
        for key in ("boxes", "scores", "masks"):
            torch.testing.assert_close(have[key], want[key], atol=1e-4, rtol=1e-4)
    assert all("masks" not in result for result in boxes_only)


def test_predictor_keeps_the_stock_model_results() -> None:
    """End to end on the CPU: folded norms, channels_last, gather pooling and class-only mask
    logits together still give what the unmodified torchvision model gives."""
    kwargs = {"min_size": 192, "max_size": 320}
    stock = _random_detector("maskrcnn", **kwargs)
    predictor = load_predictor(
        "maskrcnn", weights="random", seed=3, device="cpu", score_threshold=0.05, model_kwargs=kwargs
    )
    image = np.random.default_rng(2).integers(0, 256, (180, 300, 3), dtype=np.uint8)
    frame = SampledFrame(0, 0.0, image, (300, 180), FrameTransform(source_size=(300, 180)), True)
    (result,) = predictor.predict([frame])
    with torch.inference_mode():
        (expected,) = stock([torch.from_numpy(image).permute(2, 0, 1).float() / 255.0])
    det = result.detections
    assert det is not None and det.masks is not None
    top = 30  # past the first few dozen, near-equal scores may legitimately swap places
    assert len(det) >= top
    np.testing.assert_allclose(det.scores[:top], expected["scores"][:top].numpy(), atol=1e-4)
    np.testing.assert_allclose(det.xyxy[:top], expected["boxes"][:top].numpy(), atol=2e-2)
    assert np.array_equal(det.labels[:top], expected["labels"][:top].numpy())
