"""A built-in SSD artifact exported to ONNX gives the MXNet predictor's detections in reelsight's
ONNX backend: the export runs here (MXNet's exporter), the file runs in .venv (onnxruntime)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from reelsight.edge import LAYOUT_DETECTION, METADATA_CLASSES, METADATA_LAYOUT, METADATA_MODEL
from reelsight.errors import ModelError
from reelsight.frames import FrameTransform, SampledFrame
from reelsight.mx.loader import load_mx_predictor
from reelsight.mx.onnx_export import detection_head
from reelsight.testing.videos import frame_image
from tests_mx.ssd_artifact import training_symbol, write_artifact

BIRDS = ["sparrow", "blue jay", "finch"]
MAIN_PYTHON = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "python"
# A low floor, so that each frame gives well over a hundred detections to compare.
SCORE_THRESHOLD = 0.05
BOX_TOLERANCE_PX = 1e-3
SCORE_TOLERANCE = 1e-5
FRAME_SIZES = ((320, 240), (640, 360), (128, 128), (97, 203))


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_artifact(tmp_path_factory.mktemp("ssd"), class_names=BIRDS, image_shape=128)


def _frame(index: int, width: int, height: int) -> SampledFrame:
    image = frame_image(index * 7, width, height)
    return SampledFrame(
        index=index,
        timestamp=index / 10,
        image=image,
        source_size=(width, height),
        transform=FrameTransform(source_size=(width, height)),
        keyframe=False,
    )


def _export(artifact: Path, out: Path, repo_root: Path) -> dict[str, object]:
    answer = subprocess.run(
        [sys.executable, "-m", "reelsight.mx", "export-onnx", str(artifact), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=repo_root,
    )
    assert answer.returncode == 0, answer.stderr
    return dict(json.loads(answer.stdout.strip().splitlines()[-1]))


@pytest.mark.skipif(not MAIN_PYTHON.exists(), reason="the main environment .venv is missing (make venv)")
def test_exported_ssd_matches_the_mxnet_predictor(artifact: Path, tmp_path: Path, repo_root: Path) -> None:
    onnx_file = tmp_path / "ssd.onnx"
    assert _export(artifact, onnx_file, repo_root) == {
        "path": str(onnx_file),
        "model": "builtin_ssd",
        "classes": BIRDS,
    }
    meta = {p.key: p.value for p in onnx.load(str(onnx_file)).metadata_props}
    assert meta[METADATA_LAYOUT] == LAYOUT_DETECTION and meta[METADATA_MODEL] == "builtin_ssd"
    assert json.loads(meta[METADATA_CLASSES]) == BIRDS

    predictor = load_mx_predictor(
        "builtin_ssd", weights=str(artifact), device="cpu", score_threshold=SCORE_THRESHOLD
    )
    expected = []
    for index, (width, height) in enumerate(FRAME_SIZES):
        frame = _frame(index, width, height)
        np.save(tmp_path / f"frame-{index}.npy", frame.image)
        detections = predictor.predict([frame])[0].detections
        assert detections is not None and len(detections) > 100
        expected.append(detections)

    answer = subprocess.run(
        [
            str(MAIN_PYTHON),
            str(Path(__file__).with_name("onnx_side.py")),
            str(onnx_file),
            str(tmp_path),
            str(SCORE_THRESHOLD),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=repo_root,
        env={"PYTHONPATH": str(repo_root), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "2"},
    )
    assert answer.returncode == 0, answer.stderr
    results = json.loads((tmp_path / "onnx.json").read_text())
    assert len(results) == len(expected)
    for mx_dets, got in zip(expected, results, strict=True):
        order = np.argsort(-np.asarray(got["scores"]), kind="stable")  # the MXNet rows are sorted by score
        assert got["device"] == "cpu"
        assert np.asarray(got["labels"])[order].tolist() == mx_dets.labels.tolist()
        assert [got["class_names"][i] for i in order] == list(mx_dets.class_names)
        np.testing.assert_allclose(np.asarray(got["scores"])[order], mx_dets.scores, atol=SCORE_TOLERANCE)
        np.testing.assert_allclose(
            np.asarray(got["xyxy"]).reshape(-1, 4)[order], mx_dets.xyxy, atol=BOX_TOLERANCE_PX
        )


def test_a_symbol_without_a_detection_head_is_refused() -> None:
    symbol = training_symbol(3)
    cls_prob = symbol.get_internals()["cls_prob_output"]
    with pytest.raises(ModelError, match="expected one MultiBoxDetection"):
        detection_head(cls_prob)


def test_the_head_settings_come_from_the_symbol() -> None:
    head = detection_head(training_symbol(3))
    assert (head.nms_threshold, head.nms_topk, head.threshold) == (0.45, 400, 0.01)
    assert head.variances == (0.1, 0.1, 0.2, 0.2) and head.clip
