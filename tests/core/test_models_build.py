"""Every torchvision model in the registry builds with random weights and runs on a small frame."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reelsight.frames import FrameTransform, SampledFrame
from reelsight.models import load_predictor
from reelsight.models.registry import REGISTRY
from reelsight.results import rle_to_mask

TORCHVISION_MODELS = [s.name for s in REGISTRY.values() if s.framework == "torchvision"]
SOURCE = (128, 96)  # (w, h) of the pretend source frame; the model sees it at half size


def _frame(index: int, seed: int) -> SampledFrame:
    image = np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    return SampledFrame(
        index=index,
        timestamp=index / 30,
        image=image,
        source_size=SOURCE,
        transform=FrameTransform(0.5, 0.5, 0.0, 0.0, SOURCE),
        keyframe=index == 0,
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", TORCHVISION_MODELS)
def test_model_runs_on_a_small_frame(name: str) -> None:
    predictor = load_predictor(
        name,
        weights="random",
        device="cpu",
        score_threshold=0.0,
        model_kwargs={"min_size": 64, "max_size": 96},
    )
    assert predictor.weights_info["random_weights"] is True
    assert predictor.device == "cpu"
    frames = [_frame(0, 1), _frame(3, 2)]
    results = predictor.predict(frames)
    assert [r.frame_index for r in results] == [0, 3]
    for result in results:
        assert (result.width, result.height) == SOURCE
        spec = predictor.spec
        if spec.task == "semantic_segmentation":
            assert result.detections is None and result.semantic is not None
            class_map = result.semantic.class_map
            assert class_map is not None and class_map.shape == (SOURCE[1], SOURCE[0])
            assert sum(result.semantic.fractions.values()) == pytest.approx(1.0)
            assert set(result.semantic.fractions) <= set(spec.classes)
            continue
        det = result.detections
        assert det is not None and result.semantic is None
        assert len(det) > 0  # threshold 0 keeps whatever random weights score
        assert det.xyxy.shape == (len(det), 4)
        assert det.xyxy.min() >= 0 and det.xyxy[:, 2].max() <= SOURCE[0] and det.xyxy[:, 3].max() <= SOURCE[1]
        assert all(n == spec.classes[label] for n, label in zip(det.class_names, det.labels, strict=True))
        if spec.has_masks:
            assert det.masks is not None and len(det.masks) == len(det)
            assert rle_to_mask(det.masks[0]).shape == (SOURCE[1], SOURCE[0])
        else:
            assert det.masks is None


def test_random_weights_are_seeded() -> None:
    kwargs = {"min_size": 64, "max_size": 96}
    a = load_predictor("ssdlite", weights="random", seed=5, model_kwargs=kwargs)
    b = load_predictor("ssdlite", weights="random", seed=5, model_kwargs=kwargs)
    c = load_predictor("ssdlite", weights="random", seed=6, model_kwargs=kwargs)
    pa, pb, pc = (next(p.module.parameters()) for p in (a, b, c))  # type: ignore[attr-defined]
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


def test_bf16_on_cpu_uses_channels_last_and_still_predicts() -> None:
    predictor = load_predictor(
        "deeplabv3_mobilenet_v3", weights="random", device="cpu", precision="bf16", score_threshold=0.0
    )
    assert predictor.precision == "bf16"  # type: ignore[attr-defined]
    weight = next(p for p in predictor.module.parameters() if p.ndim == 4)  # type: ignore[attr-defined]
    assert weight.is_contiguous(memory_format=torch.channels_last)
    (result,) = predictor.predict([_frame(0, 3)])
    assert result.semantic is not None and result.semantic.class_map is not None


def test_fp16_on_cpu_is_a_parameter_error() -> None:
    from reelsight.errors import ParamError

    with pytest.raises(ParamError, match="fp16 needs a CUDA device"):
        load_predictor("ssdlite", weights="random", device="cpu", precision="fp16")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on machines without CUDA")
def test_cuda_without_a_gpu_is_a_model_error() -> None:
    from reelsight.errors import ModelError

    with pytest.raises(ModelError, match="CUDA is not available"):
        load_predictor("ssdlite", weights="random", device="cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_autocast_predicts_in_source_pixels() -> None:
    predictor = load_predictor(
        "maskrcnn", weights="random", device="cuda", score_threshold=0.0, model_kwargs={"min_size": 64}
    )
    assert predictor.device.startswith("cuda")
    (result,) = predictor.predict([_frame(0, 4)])
    assert result.detections is not None and result.detections.masks is not None
