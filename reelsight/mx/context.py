"""Device selection for MXNet."""

from __future__ import annotations

import mxnet as mx

from reelsight.errors import ParamError


def mx_context(device: str) -> tuple[mx.Context, str]:
    """The MXNet context for a reelsight device string, and its canonical name."""
    if device in ("auto", "cuda", "cuda:0") or device.startswith("cuda:"):
        index = int(device.split(":", 1)[1]) if ":" in device else 0
        gpus = mx.context.num_gpus()
        if gpus > index:
            return mx.gpu(index), f"cuda:{index}"
        if device != "auto":
            raise ParamError(f"device {device!r} requested but MXNet sees {gpus} GPU(s)")
        return mx.cpu(), "cpu"
    if device == "cpu":
        return mx.cpu(), "cpu"
    raise ParamError(f"device must be one of auto, cpu, cuda, cuda:N, got {device!r}")
