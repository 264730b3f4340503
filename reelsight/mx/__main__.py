"""``python -m reelsight.mx``: the MXNet image's entry point (``process`` and ``run``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from reelsight.cli import run_command


def build_parser() -> argparse.ArgumentParser:
    from reelsight.cli import process as process_cli

    parser = argparse.ArgumentParser(
        prog="python -m reelsight.mx",
        description="reelsight's MXNet/GluonCV backend: GluonCV segmentation and built-in SSD artifacts.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    process_cli.register(sub)
    process = sub.choices["process"]
    process.description = (
        "The SageMaker Processing contract of `reelsight process`, with MXNet models: "
        "deeplab_resnet101_citys (default), any GluonCV segmentation model-zoo name, or builtin_ssd."
    )
    process.add_argument("--labels", help="class names file for builtin_ssd (one per line)")
    process.set_defaults(func=_process)

    run = sub.add_parser("run", help="run one video into an output folder")
    run.add_argument("video", help="video file")
    run.add_argument("out_dir", help="output folder (frames.jsonl, summary.json, class_maps/, masks/, ...)")
    run.add_argument(
        "--model", default=None, help="deeplab_resnet101_citys (default), a zoo name, builtin_ssd"
    )
    run.add_argument("--weights", default=None, help="pretrained | random | .params | model.tar.gz | folder")
    run.add_argument(
        "--options", default="", help="run options as key=value pairs, e.g. 'fps=2,max_frames=10'"
    )
    run.add_argument("--labels", help="class names file for builtin_ssd (one per line)")
    run.set_defaults(func=_run)

    export = sub.add_parser(
        "export-onnx",
        help="write a built-in SSD artifact as an ONNX file for `reelsight run --model-file` (docs/edge.md)",
    )
    export.add_argument("weights", help="the training job's model.tar.gz (path, folder or s3:// URI)")
    export.add_argument("out", help="the .onnx file to write")
    export.add_argument("--labels", help="class names file (one per line), else the artifact's")
    export.set_defaults(func=_export_onnx)

    bake = sub.add_parser("bake", help="download pretrained GluonCV weights into a folder (image build)")
    bake.add_argument("--model", default="deeplab_resnet101_citys", help="GluonCV model-zoo name")
    bake.add_argument("--dir", required=True, help="folder for <model>.params (REELSIGHT_MODEL_DIR)")
    bake.set_defaults(func=_bake)
    return parser


def _bake(args: argparse.Namespace) -> int:
    from reelsight.mx.bake import bake

    print(f"baked {bake(args.model, args.dir)}")
    return 0


def _export_onnx(args: argparse.Namespace) -> int:
    import json

    from reelsight.mx import BUILTIN_SSD
    from reelsight.mx.loader import load_mx_predictor
    from reelsight.mx.onnx_export import export_builtin_ssd

    predictor = load_mx_predictor(BUILTIN_SSD, weights=args.weights, device="cpu", labels=args.labels)
    path = export_builtin_ssd(predictor, args.out)
    print(json.dumps({"path": str(path), "model": BUILTIN_SSD, "classes": list(predictor.classes)}))
    return 0


def _process(args: argparse.Namespace) -> int:
    import logging

    from reelsight.cli.process import settings_from_args
    from reelsight.mx.processing import default_environment, run_mx_job

    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings_from_args(args, default_environment(os.environ))
    return run_mx_job(settings, labels=args.labels)


def _run(args: argparse.Namespace) -> int:
    import json

    from reelsight.contract.options import resolve_run_options
    from reelsight.mx.loader import load_mx_predictor
    from reelsight.mx.processing import default_environment
    from reelsight.params import parse_key_values
    from reelsight.pipeline import run_video

    overrides = parse_key_values(args.options)
    if args.model:
        overrides["model"] = args.model
    if args.weights:
        overrides["weights"] = args.weights
    options = resolve_run_options(default_environment(os.environ), overrides)
    predictor = load_mx_predictor(
        options.model,
        weights=options.weights,
        device=options.device,
        score_threshold=options.score_threshold,
        batch_size=options.batch_size,
        labels=args.labels,
    )
    summary = run_video(args.video, options=options, out_dir=args.out_dir, predictor=predictor)
    print(
        json.dumps(
            {"status": summary.status, "frames_sampled": summary.frames_sampled, "out_dir": str(args.out_dir)}
        )
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), argv, name="reelsight.mx")


if __name__ == "__main__":
    sys.exit(main())
