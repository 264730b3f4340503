"""ONNX files exported once per session with random seeded weights."""

from __future__ import annotations

import pytest

from reelsight.edge.export import ExportResult, export_onnx

DETECTOR_SIZE = (320, 240)
SEGMENTER_SIZE = (160, 128)


@pytest.fixture(scope="session")
def fasterrcnn_onnx(tmp_path_factory: pytest.TempPathFactory) -> ExportResult:
    out = tmp_path_factory.mktemp("onnx") / "fasterrcnn.onnx"
    return export_onnx("fasterrcnn", out, weights="random", size=DETECTOR_SIZE, score_threshold=0.05, seed=0)


@pytest.fixture(scope="session")
def maskrcnn_onnx(tmp_path_factory: pytest.TempPathFactory) -> ExportResult:
    out = tmp_path_factory.mktemp("onnx") / "maskrcnn.onnx"
    return export_onnx("maskrcnn", out, weights="random", size=(160, 128), score_threshold=0.05, seed=1)


@pytest.fixture(scope="session")
def deeplab_onnx(tmp_path_factory: pytest.TempPathFactory) -> ExportResult:
    out = tmp_path_factory.mktemp("onnx") / "deeplab.onnx"
    return export_onnx("deeplabv3_mobilenet_v3", out, weights="random", size=SEGMENTER_SIZE, seed=2)
