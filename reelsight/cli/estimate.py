"""``reelsight estimate VIDEO``: the expected worker time and cost of a run, before it runs."""

from __future__ import annotations

import argparse
import math
import os
from typing import Any

from reelsight.cli.submit import _target_args
from reelsight.contract.jobs import JobRecord

MAX_JOBS = 200  # completed jobs read for the basis, newest first


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "estimate",
        help="the expected worker time and cost of running a model on a video",
        description=(
            "Probe VIDEO's duration (no decode of its frames), count the frames FPS samples, and price "
            "them: seconds per frame from the stack's completed jobs of that model on that instance "
            "type, else from reelsight's default figures; USD per hour from the cost receipt's price table."
        ),
    )
    parser.add_argument("video", help="video file")
    parser.add_argument("--model", default="maskrcnn", help="model name (default: maskrcnn)")
    parser.add_argument("--fps", default="1", help="samples per second of video time (default: 1)")
    parser.add_argument(
        "--instance-type",
        help="SageMaker instance type (default: the one the completed jobs ran on, else ml.g4dn.xlarge)",
    )
    parser.add_argument(
        "--no-jobs", action="store_true", help="do not read the stack's jobs: default figures"
    )
    parser.add_argument("--json", action="store_true", help="print the estimate as JSON")
    _target_args(parser)
    parser.set_defaults(func=run_estimate)


def _fps(text: str) -> float:
    from reelsight.errors import ParamError
    from reelsight.estimate import MAX_FPS

    try:
        fps = float(text)
    except ValueError:
        raise ParamError(f"--fps must be a number, got {text!r}") from None
    if not math.isfinite(fps) or not 0 < fps <= MAX_FPS:
        raise ParamError(f"--fps must be in (0, {MAX_FPS:g}], got {text}")
    return fps


def _model(name: str) -> str:
    from reelsight.errors import ModelError, ParamError
    from reelsight.estimate import DEFAULT_SECONDS_PER_FRAME
    from reelsight.models.registry import get_spec

    try:
        model = get_spec(name).name
    except ModelError as error:
        raise ParamError(str(error)) from None
    if model not in DEFAULT_SECONDS_PER_FRAME:
        raise ParamError(
            f"no default figures for {model}; choose one of: {', '.join(DEFAULT_SECONDS_PER_FRAME)}"
        )
    return model


def _duration(path: str) -> tuple[float, int | None]:
    from pathlib import Path

    from reelsight.errors import ParamError, VideoError
    from reelsight.frames import probe

    if not Path(path).is_file():
        raise ParamError(f"no such file: {path}")
    try:
        info = probe(path)
    except VideoError as error:
        raise ParamError(f"not a video: {error}") from None
    if not info.duration > 0:
        raise ParamError(f"{Path(path).name}: the container does not say how long the video is")
    return info.duration, info.frame_count


def _completed_jobs(args: argparse.Namespace) -> tuple[list[JobRecord], str | None]:
    """The stack's newest completed jobs and its region; none with --no-jobs."""
    if args.no_jobs:
        return [], None
    from reelsight.cli.submit import _client
    from reelsight.contract.jobs import JobStatus

    client = _client(args)
    jobs: list[JobRecord] = []
    token: str | None = None
    while len(jobs) < MAX_JOBS:
        page = client.jobs.list_page(status=JobStatus.SUCCEEDED, limit=MAX_JOBS - len(jobs), next_token=token)
        jobs += page.items
        token = page.next
        if not token:
            break
    return jobs, client.target.region or client.session.region_name


def _instance_type(requested: str | None, jobs: list[JobRecord], model: str) -> str | None:
    """--instance-type when it is known; else the completed jobs' usual one, else the default."""
    from reelsight.contract.cost import ON_DEMAND_PRICES
    from reelsight.errors import ParamError
    from reelsight.estimate import DEFAULT_INSTANCE_TYPE, job_instance_types, usual_instance_type

    if requested is None:
        usual = usual_instance_type(jobs, model)
        return DEFAULT_INSTANCE_TYPE if usual is None else usual or None
    known = {instance_type for _, instance_type in ON_DEMAND_PRICES} | job_instance_types(jobs)
    if requested not in known:
        raise ParamError(f"unknown instance type {requested!r}; known: {', '.join(sorted(known))}")
    return requested


def _region(args: argparse.Namespace, stack_region: str | None) -> str | None:
    from reelsight.contract.cost import REGION_VARIABLES

    named = next((os.environ[name] for name in REGION_VARIABLES if os.environ.get(name)), None)
    return args.region or named or stack_region


def _prices() -> dict[str, float]:
    from reelsight import envvars
    from reelsight.contract.cost import PriceError, parse_prices
    from reelsight.errors import ParamError

    try:
        return parse_prices(os.environ.get(envvars.PRICES))
    except PriceError as error:
        raise ParamError(f"{envvars.PRICES}: {error}") from None


def run_estimate(args: argparse.Namespace) -> int:
    import json

    from reelsight.estimate import basis_from_jobs, default_basis, describe, estimate, expected_frames

    fps = _fps(args.fps)
    model = _model(args.model)
    prices = _prices()
    duration, frame_count = _duration(args.video)
    jobs, stack_region = _completed_jobs(args)
    instance_type = _instance_type(args.instance_type, jobs, model)
    basis = basis_from_jobs(jobs, model, instance_type) or default_basis(model)
    result = estimate(
        video=args.video,
        video_seconds=round(duration, 3),
        frames=expected_frames(duration, fps, frame_count),
        fps=fps,
        model=model,
        instance_type=instance_type,
        region=_region(args, stack_region),
        basis=basis,
        prices=prices,
    )
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print("\n".join(describe(result)))
    return 0
