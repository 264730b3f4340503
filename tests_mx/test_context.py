"""Device selection: `device=auto` takes the GPU when MXNet reports one and falls back to the CPU."""

from __future__ import annotations

from pathlib import Path

import mxnet as mx
import pytest

from reelsight.errors import ParamError
from reelsight.mx.context import mx_context
from reelsight.mx.loader import load_mx_predictor
from tests_mx.ssd_artifact import write_artifact


def test_auto_falls_back_to_the_cpu_when_mxnet_sees_no_gpu(tmp_path: Path) -> None:
    # .venv-mxnet has the CPU build, which reports no GPU: the real fallback path, end to end.
    assert mx.context.num_gpus() == 0
    assert mx_context("auto") == (mx.cpu(), "cpu")
    artifact = write_artifact(tmp_path, class_names=["a", "b"], image_shape=64)
    predictor = load_mx_predictor("builtin_ssd", weights=str(artifact), device="auto")
    assert predictor.device == "cpu"


def test_an_explicit_gpu_without_one_is_a_clear_error() -> None:
    with pytest.raises(ParamError, match=r"device 'cuda' requested but MXNet sees 0 GPU\(s\)"):
        mx_context("cuda")


@pytest.mark.parametrize(
    ("device", "expected"),
    [("auto", (mx.gpu(0), "cuda:0")), ("cuda", (mx.gpu(0), "cuda:0")), ("cuda:1", (mx.gpu(1), "cuda:1"))],
)
def test_auto_and_cuda_take_the_gpus_mxnet_reports(
    monkeypatch: pytest.MonkeyPatch, device: str, expected: tuple[mx.Context, str]
) -> None:
    # The CUDA build's answer on a two-GPU instance (a Context names a device without touching it).
    monkeypatch.setattr(mx.context, "num_gpus", lambda: 2)
    assert mx_context(device) == expected


def test_a_gpu_index_past_the_ones_reported_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mx.context, "num_gpus", lambda: 2)
    with pytest.raises(ParamError, match="sees 2 GPU"):
        mx_context("cuda:2")
    with pytest.raises(ParamError, match="device must be one of"):
        mx_context("tpu")
