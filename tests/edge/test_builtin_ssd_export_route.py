"""The built-in SSD is exported where MXNet is installed; this environment says where, and runs the file.

The export and the parity check against the MXNet predictor are in tests_mx/test_onnx_export.py (it
runs this environment's ONNX backend on the file it writes).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reelsight.edge.export import export_onnx
from reelsight.errors import ModelError
from reelsight.models import load_predictor


def test_exporting_builtin_ssd_here_names_the_mxnet_command(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"python -m reelsight\.mx export-onnx MODEL_TAR_GZ OUT\.onnx"):
        export_onnx("builtin_ssd", tmp_path / "ssd.onnx", weights="random")


def test_other_mxnet_models_have_no_export(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="deeplab_resnet101_citys is a mxnet model; ONNX export covers"):
        export_onnx("deeplab_resnet101_citys", tmp_path / "seg.onnx")


def test_an_onnx_file_for_builtin_ssd_goes_to_the_onnx_backend(tmp_path: Path) -> None:
    # The MXNet refusal no longer stops an .onnx file: the ONNX backend reads (and here refuses) it.
    not_onnx = tmp_path / "ssd.onnx"
    not_onnx.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="is not an ONNX model"):
        load_predictor("builtin_ssd", weights=str(not_onnx))
