"""``reelsight process``: the SageMaker Processing contract (every video under the input directory)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reelsight.worker.processing import ProcessSettings

# `--mode` picks infer/frames here, so the sampling mode has the dest `sampling_mode`.
OPTION_DESTS = {"mode": "sampling_mode"}


def register(subparsers: Any) -> None:
    from reelsight.cli.options import add_track_flag

    parser = subparsers.add_parser(
        "process",
        help="run a SageMaker Processing job over every video in the input directory",
        description=(
            "Process every video under the input directory (recursively): 'infer' runs the model and "
            "writes frames.jsonl + summary.json per video, 'frames' writes the sampled frames as images. "
            "Outputs go to <output>/<video name>/; a bad video gets an error.json and the others go on. "
            "A job with a plan (its 'plan' input) runs the plan's parts: a batch's videos or a split "
            "video's time ranges, each written to the results bucket with a completion marker."
        ),
    )
    parser.add_argument(
        "--mode",
        choices=("infer", "frames"),
        default=None,
        help="what to do (default: the job plan's mode, else infer)",
    )
    parser.add_argument("--input", help="input directory (default: REELSIGHT_PROCESSING_INPUT, the job's "
                        "first input LocalPath, or /opt/ml/processing/input)")  # fmt: skip
    parser.add_argument("--output", help="output directory (default: REELSIGHT_PROCESSING_OUTPUT, the job's "
                        "first output LocalPath, or /opt/ml/processing/output)")  # fmt: skip
    parser.add_argument("--message-file", help="ExitMessage file (default: REELSIGHT_OUTPUT_MESSAGE or "
                        "/opt/ml/output/message)")  # fmt: skip
    parser.add_argument(
        "--custom-sharding",
        action="store_true",
        help="split a fully replicated input between hosts: file i (sorted) goes to host i %% n",
    )
    parser.add_argument(
        "--fail-on-any-error",
        action="store_true",
        help="exit non-zero when any video fails (default: only when every video fails)",
    )
    parser.add_argument(
        "--image-format",
        choices=("jpg", "png"),
        default=None,
        help="frames mode image format (default: the job plan's, else jpg)",
    )
    parser.add_argument(
        "--job-id", help="job id for progress reports (default: REELSIGHT_JOB_ID or the job name)"
    )
    parser.add_argument(
        "--options", default="", help="run options as key=value pairs, e.g. 'fps=2,model=ssdlite'"
    )
    group = parser.add_argument_group("run options (override REELSIGHT_* environment defaults)")
    group.add_argument("--model", help="model name, e.g. maskrcnn, fasterrcnn, deeplabv3_resnet50")
    group.add_argument("--weights", help="pretrained | random | a checkpoint path")
    group.add_argument("--fps", help="samples per second of video time")
    group.add_argument("--every-seconds", help="seconds between samples (instead of --fps)")
    group.add_argument("--start", help="first second to sample")
    group.add_argument("--end", help="last second to sample")
    group.add_argument("--max-frames", help="stop after this many samples")
    group.add_argument("--sampling-mode", help="exact | keyframes")
    group.add_argument("--resize", help="none | fit | stretch | crop")
    group.add_argument("--size", help="WIDTHxHEIGHT for --resize")
    group.add_argument("--backend", help="pyav | opencv")
    group.add_argument("--batch-size", help="frames per model call")
    group.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    group.add_argument("--precision", help="auto | fp32 | bf16 | fp16")
    group.add_argument("--score-threshold", help="drop detections scoring below this (0..1)")
    group.add_argument(
        "--include", help="extra outputs joined by '+': masks, mask_pngs, contact_sheet, preview, frames"
    )
    add_track_flag(group)
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging
    import os

    from reelsight.worker.processing import run_job

    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run_job(settings_from_args(args, os.environ))


def settings_from_args(args: argparse.Namespace, environ: Mapping[str, str]) -> ProcessSettings:
    """The job's settings from ``environ`` and this command's flags (shared with the MXNet entry)."""
    from reelsight.cli.options import flag_overrides
    from reelsight.params import parse_key_values
    from reelsight.worker.processing import settings_from_environment

    overrides = {**parse_key_values(args.options), **flag_overrides(args, dests=OPTION_DESTS)}
    return settings_from_environment(
        environ,
        overrides=overrides,
        input_dir=args.input,
        output_dir=args.output,
        message_file=args.message_file,
        mode=args.mode,
        custom_sharding=args.custom_sharding,
        fail_on_any_error=args.fail_on_any_error,
        image_format=args.image_format,
        job_id=args.job_id,
    )
