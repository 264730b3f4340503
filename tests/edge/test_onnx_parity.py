"""The onnxruntime backend gives the torch predictor's results (random seeded weights)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reelsight.edge.export import ExportResult
from reelsight.frames import FrameTransform, SampledFrame
from reelsight.models import load_predictor
from reelsight.models.onnx_backend import OnnxPredictor, load_onnx_predictor
from reelsight.results import FrameResult, rle_to_mask
from reelsight.testing.videos import frame_image


def _frame(width: int, height: int, transform: FrameTransform | None = None, source=None) -> SampledFrame:
    source = source or (width, height)
    return SampledFrame(
        index=12,
        timestamp=0.4,
        image=frame_image(12, width, height),
        source_size=source,
        transform=transform or FrameTransform(source_size=source),
        keyframe=False,
    )


def _torch_predictor(export: ExportResult, seed: int, score: float):
    width, height = export.input_size
    kwargs = (
        None
        if export.model == "ssdlite"
        else {"min_size": min(width, height), "max_size": max(width, height)}
    )
    return load_predictor(
        export.model,
        weights="random",
        seed=seed,
        device="cpu",
        precision="fp32",
        score_threshold=score,
        model_kwargs=kwargs,
    )


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


@pytest.fixture(scope="module")
def fasterrcnn_predictor(fasterrcnn_onnx: ExportResult) -> OnnxPredictor:
    return load_onnx_predictor(
        fasterrcnn_onnx.path, spec_name="fasterrcnn", device="cpu", score_threshold=0.1
    )


@pytest.fixture(scope="module")
def fasterrcnn_direct(fasterrcnn_predictor: OnnxPredictor) -> FrameResult:
    return fasterrcnn_predictor.predict([_frame(320, 240)])[0]


def test_detector_matches_torch(fasterrcnn_onnx: ExportResult, fasterrcnn_direct: FrameResult):
    frame = _frame(*fasterrcnn_onnx.input_size)
    expected = _torch_predictor(fasterrcnn_onnx, seed=0, score=0.1).predict([frame])[0].detections
    result = fasterrcnn_direct
    assert result.frame_index == 12 and (result.width, result.height) == (320, 240)
    dets = result.detections
    assert expected is not None and dets is not None
    assert len(expected) > 5, "random weights should give some boxes above 0.1"
    assert len(dets) == len(expected)
    np.testing.assert_allclose(dets.xyxy, expected.xyxy, atol=0.05)
    np.testing.assert_allclose(dets.scores, expected.scores, atol=1e-4)
    assert dets.labels.tolist() == expected.labels.tolist()
    assert dets.class_names == expected.class_names


def test_detector_boxes_map_back_through_the_sampler_transform(
    fasterrcnn_predictor: OnnxPredictor, fasterrcnn_direct: FrameResult
):
    direct = fasterrcnn_direct.detections
    # The same pixels presented as a 320x240 frame sampled (halved) from a 640x480 source.
    halved = _frame(320, 240, FrameTransform(scale_x=0.5, scale_y=0.5, source_size=(640, 480)), (640, 480))
    scaled = fasterrcnn_predictor.predict([halved])[0]
    assert (scaled.width, scaled.height) == (640, 480)
    assert direct is not None and scaled.detections is not None and len(direct) > 0
    np.testing.assert_allclose(scaled.detections.xyxy, direct.xyxy * 2, atol=1e-3)


def test_instance_masks_match_torch(maskrcnn_onnx: ExportResult):
    frame = _frame(*maskrcnn_onnx.input_size)
    expected = _torch_predictor(maskrcnn_onnx, seed=1, score=0.3).predict([frame])[0].detections
    dets = (
        load_onnx_predictor(maskrcnn_onnx.path, device="cpu", score_threshold=0.3)
        .predict([frame])[0]
        .detections
    )
    assert expected is not None and dets is not None and expected.masks and dets.masks
    assert len(dets) == len(expected)
    np.testing.assert_allclose(dets.xyxy, expected.xyxy, atol=0.05)
    ious = [_iou(rle_to_mask(a), rle_to_mask(b)) for a, b in zip(dets.masks, expected.masks, strict=True)]
    assert min(ious) > 0.9, ious
    assert all(m["size"] == [128, 160] for m in dets.masks)


def test_segmenter_matches_torch(deeplab_onnx: ExportResult):
    width, height = deeplab_onnx.input_size
    frame = _frame(width, height)
    expected = _torch_predictor(deeplab_onnx, seed=2, score=0.5).predict([frame])[0].semantic
    predictor = load_onnx_predictor(deeplab_onnx.path, device="cpu")
    got = predictor.predict([frame])[0].semantic
    assert expected is not None and got is not None
    agreement = float((got.class_map == expected.class_map).mean())
    assert agreement > 0.995
    for name, fraction in expected.fractions.items():
        assert got.fractions.get(name, 0.0) == pytest.approx(fraction, abs=0.005)

    # A frame the sampler fitted from a 320x256 source: the class map comes back at source size.
    fitted = _frame(
        width, height, FrameTransform(scale_x=0.5, scale_y=0.5, source_size=(320, 256)), (320, 256)
    )
    semantic = predictor.predict([fitted])[0].semantic
    assert semantic is not None and semantic.class_map is not None
    assert semantic.class_map.shape == (256, 320)
    np.testing.assert_array_equal(semantic.class_map[::2, ::2], got.class_map)


def test_load_predictor_delegates_onnx_files(deeplab_onnx: ExportResult):
    predictor = load_predictor("deeplabv3_mobilenet_v3", weights=str(deeplab_onnx.path), device="cpu")
    assert isinstance(predictor, OnnxPredictor)
    assert predictor.spec.framework == "onnx"
    assert predictor.weights_info["random_weights"] is True
    assert predictor.spec.classes == deeplab_onnx.classes


def test_files_not_from_export_are_rejected(tmp_path: Path, deeplab_onnx: ExportResult):
    from reelsight.errors import ModelError

    garbage = tmp_path / "x.onnx"
    garbage.write_bytes(b"\x00not a model")
    with pytest.raises(ModelError, match="not an ONNX model"):
        load_onnx_predictor(garbage)
    with pytest.raises(ModelError, match="not found"):
        load_onnx_predictor(tmp_path / "missing.onnx")
    with pytest.raises(ModelError, match="not a detection model"):
        load_onnx_predictor(deeplab_onnx.path, spec_name="fasterrcnn")
    import onnx

    bare = onnx.load(str(deeplab_onnx.path))
    del bare.metadata_props[:]
    onnx.save(bare, str(tmp_path / "bare.onnx"))
    with pytest.raises(ModelError, match="reelsight export"):
        load_onnx_predictor(tmp_path / "bare.onnx")
