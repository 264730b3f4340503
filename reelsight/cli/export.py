"""``reelsight export --onnx MODEL OUT.onnx``: a torchvision model as an ONNX file for edge hosts."""

from __future__ import annotations

import argparse
import re
from typing import Any

from reelsight.errors import ParamError

_SIZE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def parse_size(text: str) -> tuple[int, int]:
    match = _SIZE.match(text)
    if not match:
        raise ParamError(f"--size must look like 640x360 (WIDTHxHEIGHT), got {text!r}")
    return int(match.group(1)), int(match.group(2))


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a model to ONNX for edge devices (onnxruntime, AWS IoT Greengrass)",
        description=(
            "Export a torchvision model from the registry to ONNX at a fixed input size. The file "
            "carries its class names, task and input size as metadata; run it with "
            "`reelsight run --weights OUT.onnx` or any onnxruntime host (see docs/edge.md)."
        ),
    )
    parser.add_argument(
        "--onnx",
        nargs=2,
        metavar=("MODEL", "OUT"),
        required=True,
        help="model name (see `reelsight models`) and the .onnx file to write",
    )
    parser.add_argument(
        "--weights",
        default="pretrained",
        help="pretrained | random | a .pt/.pth state_dict | a model.tar.gz (default: pretrained)",
    )
    parser.add_argument(
        "--size",
        help="input WIDTHxHEIGHT the graph is fixed to (default: 1280x720 for detectors, the model's "
        "training size for segmenters and ssdlite)",
    )
    parser.add_argument(
        "--score-threshold",
        type=float,
        default=0.05,
        help="score floor baked into detector graphs; the runtime threshold can only raise it (default 0.05)",
    )
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset version (default 17)")
    parser.add_argument("--seed", type=int, default=0, help="seed for --weights random (default 0)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from reelsight.edge.export import export_onnx

    model, out = args.onnx
    if not out.endswith(".onnx"):
        raise ParamError(f"the output file must end with .onnx, got {out!r}")
    if not 0.0 <= args.score_threshold <= 1.0:
        raise ParamError(f"--score-threshold must be within 0..1, got {args.score_threshold}")
    size = parse_size(args.size) if args.size else None
    result = export_onnx(
        model,
        out,
        weights=args.weights,
        size=size,
        score_threshold=args.score_threshold,
        opset=args.opset,
        seed=args.seed,
    )
    width, height = result.input_size
    print(
        f"wrote {result.path} ({result.model}, {result.task}, {width}x{height}, "
        f"{len(result.classes)} classes, weights {result.weights_source})"
    )
    return 0
