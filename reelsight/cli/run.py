"""``reelsight run``: one local video through one model, results in a directory."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

EXIT_PARTIAL = 5


def register(subparsers: Any) -> None:
    from reelsight.cli.options import add_track_flag

    parser = subparsers.add_parser(
        "run",
        help="run a model on a local video and write the results to a directory",
        description=(
            "Sample frames from VIDEO by time, run a model on them in batches and write frames.jsonl "
            "(one JSON line per sampled frame), summary.json and the extras chosen with --include to "
            "--out. Exit codes: 0 ok, 2 bad parameters, 3 unreadable video, 4 model error, "
            "5 partial result (the video broke off; what was decoded is written)."
        ),
    )
    parser.add_argument("video", metavar="VIDEO", help="path of the video file")
    model = parser.add_argument_group("model")
    model.add_argument(
        "--model", default="maskrcnn", help="model name, see `reelsight models` (default: maskrcnn)"
    )
    model.add_argument(
        "--weights",
        default="pretrained",
        help="pretrained (torchvision weights, downloaded once to TORCH_HOME), random (seeded, for tests), "
        "a state_dict .pt/.pth, a SageMaker model.tar.gz (model.pth + config.json) or an .onnx file "
        "(default: pretrained)",
    )
    model.add_argument(
        "--allow-random-fallback",
        action="store_true",
        help="when pretrained weights cannot be downloaded, run with random weights instead of failing "
        "(the summary flags random_weights=true)",
    )
    model.add_argument("--seed", type=int, default=0, help="seed for random weights (default: 0)")
    model.add_argument("--batch-size", help="frames per inference batch (default: 4)")
    model.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: auto = cuda when present)")
    model.add_argument(
        "--precision",
        help="auto, fp32, bf16 or fp16 (default: auto = fp16 autocast on CUDA, fp32 on the CPU; "
        "bf16 on the CPU pays off only on CPUs with AMX or Zen 4)",
    )
    model.add_argument("--score-threshold", help="drop detections scoring below this, 0..1 (default: 0.5)")
    model.add_argument(
        "--min-size",
        type=int,
        help="detectors: shorter side the model resizes each frame to internally (torchvision default 800)",
    )
    model.add_argument(
        "--max-size",
        type=int,
        help="detectors: longest side cap of that internal resize (torchvision default 1333)",
    )
    sampling = parser.add_argument_group("sampling")
    rate = sampling.add_mutually_exclusive_group()
    rate.add_argument("--fps", help="samples per second of video time (default: 1)")
    rate.add_argument("--every-seconds", help="one sample every S seconds (instead of --fps)")
    sampling.add_argument("--start", help="first second to sample (default: 0)")
    sampling.add_argument("--end", help="stop sampling at this second (default: end of video)")
    sampling.add_argument("--max-frames", help="stop after N samples")
    sampling.add_argument(
        "--mode",
        help="exact: decode and take the frame shown at each target time (default); keyframes: decode "
        "keyframes only and take the nearest one (fast, approximate)",
    )
    sampling.add_argument(
        "--resize",
        help="none, fit (keep aspect, pad), stretch or crop (keep aspect, centre crop) to --size. Default: "
        "none for the detectors (they resize internally), fit to the model's input size for DeepLabV3",
    )
    sampling.add_argument("--size", help="WIDTHxHEIGHT target for --resize, e.g. 640x360")
    sampling.add_argument("--backend", help="decoder: pyav (default) or opencv")
    output = parser.add_argument_group("output")
    output.add_argument("--out", help="output directory (default: out/<video name>)")
    output.add_argument(
        "--include",
        help="extras, joined with + : masks (instance masks as RLE in frames.jsonl, class-id PNGs for "
        "semantic models), mask_pngs, contact_sheet, preview, frames (default: masks+contact_sheet)",
    )
    output.add_argument(
        "--preview", action="store_true", help="also write preview.mp4 (adds preview to --include)"
    )
    add_track_flag(output)
    output.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    output.add_argument("--json", action="store_true", help="print summary.json instead of the text summary")
    parser.set_defaults(func=run_command)


def build_options(args: argparse.Namespace) -> Any:
    """RunOptions from the flags, with model-appropriate resize defaults; ParamError on bad values."""
    from reelsight.cli.options import flag_overrides
    from reelsight.contract.options import check_tracking, with_tracking_rate
    from reelsight.models.registry import resize_overrides
    from reelsight.params import RunOptions

    overrides = with_tracking_rate(flag_overrides(args))
    if args.resize is None and args.size is None:
        overrides.update(resize_overrides(args.model))
    elif args.size is not None and args.resize is None:
        overrides["resize"] = "fit"
    options = RunOptions().with_overrides(overrides)
    if args.preview:
        options = replace(options, include=options.include | {"preview"})
    return check_tracking(options)


def run_command(args: argparse.Namespace) -> int:
    import logging

    from reelsight.cli.options import check_flag_ranges
    from reelsight.models import load_predictor
    from reelsight.pipeline import run_video

    logging.basicConfig(level=logging.WARNING, format="reelsight: %(levelname)s: %(message)s")
    check_flag_ranges(args)
    options = build_options(args)
    video = Path(args.video)
    if not video.exists():
        from reelsight.errors import VideoError

        raise VideoError(f"no such file: {video}")
    from reelsight.frames import open_video

    with open_video(video, options.sampling):
        pass  # fail fast on a bad video or sampling window, before loading the model
    out_dir = Path(args.out) if args.out else Path("out") / video.stem
    predictor = load_predictor(
        options.model,
        weights=options.weights,
        device=options.device,
        precision=options.precision,
        score_threshold=options.score_threshold,
        allow_random_fallback=args.allow_random_fallback,
        seed=args.seed,
        model_kwargs={"min_size": args.min_size, "max_size": args.max_size},
    )
    bar = _ProgressBar(enabled=not args.no_progress)
    try:
        summary = run_video(video, options=options, out_dir=out_dir, predictor=predictor, progress=bar.update)
    finally:
        bar.close()
    if args.json:
        import json

        print(json.dumps(summary.to_json(), indent=2))
    else:
        print(format_summary(summary, out_dir))
    return EXIT_PARTIAL if summary.partial else 0


class _ProgressBar:
    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None

    def update(self, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="frame", desc="reelsight", file=sys.stderr, dynamic_ncols=True)
        if total is not None and self.bar.total != total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def format_summary(summary: Any, out_dir: Path) -> str:
    model = summary.model
    weights = model.get("weights_source") or model.get("weights")
    lines = [
        f"status: {summary.status}",
        f"model: {model.get('name')} ({model.get('task')}) on {model.get('device')}, "
        f"{model.get('precision')}, weights {weights}",
        f"frames sampled: {summary.frames_sampled} in {summary.timings.total:.1f} s "
        f"(inference {summary.timings.inference:.1f} s)",
    ]
    if model.get("task") == "semantic_segmentation":
        lines.append("per-pixel classes: see frames.jsonl (semantic.fractions)")
    else:
        per_class = ", ".join(f"{name} {count}" for name, count in summary.counts_per_class.items())
        lines.append(f"detections: {summary.detections_total}" + (f" ({per_class})" if per_class else ""))
    if summary.unique_objects_per_class is not None:
        unique = summary.unique_objects_per_class
        text = ", ".join(f"{name} {count}" for name, count in unique.items())
        lines.append(f"unique objects (tracks): {sum(unique.values())}" + (f" ({text})" if text else ""))
    for warning in summary.warnings:
        lines.append(f"warning: {warning}")
    lines.append(f"results in {out_dir}/:")
    for name, rel in summary.artifacts.items():
        lines.append(f"  {name}: {out_dir / rel}")
    return "\n".join(lines)
