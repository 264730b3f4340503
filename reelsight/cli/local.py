"""``reelsight local up|down|status|env``: the whole AWS flow on this machine, no AWS account."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "local",
        help="run the stack locally (moto server, local async endpoint, Lambdas, worker)",
        description=(
            "Start, inspect or stop the local stack: every resource of the synthesized CDK templates is "
            "created on a moto server, the Lambdas run on their queues, a local SageMaker async endpoint "
            "feeds a `reelsight serve` worker. State, pids and logs live in the state directory."
        ),
    )
    local = parser.add_subparsers(dest="local_command", metavar="ACTION")

    up = local.add_parser("up", help="start the local stack (in the background unless --foreground)")
    _state_arg(up)
    up.add_argument(
        "--foreground", action="store_true", help="run the supervisor in this terminal (Ctrl-C stops)"
    )
    up.add_argument(
        "--cdk-out", default="cdk.out", help="directory of the synthesized templates (default: cdk.out)"
    )
    up.add_argument(
        "--no-synth",
        action="store_true",
        help="fail instead of running `make synth` when templates are missing",
    )
    up.add_argument("--model", default="maskrcnn", help="model the worker serves (default: maskrcnn)")
    up.add_argument(
        "--weights",
        default="auto",
        help="auto (pretrained, downloaded if not cached; random if that fails) | pretrained | random | path",
    )
    up.add_argument("--fps", default="1", help="default samples per second of video (default: 1)")
    up.add_argument(
        "--max-frames", default="", help="default cap on sampled frames per video (default: none)"
    )
    up.add_argument("--size", default="320x180", help="model input size WxH for --resize (default: 320x180)")
    up.add_argument(
        "--resize",
        default="fit",
        choices=("none", "fit", "stretch", "crop"),
        help="frame resize mode (default: fit)",
    )
    up.add_argument(
        "--worker-concurrency", type=int, help="invocations at once (default: the endpoint config's)"
    )
    up.add_argument("--no-api", action="store_true", help="do not start the API server")
    up.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds to wait for the stack to be ready (default: 300)",
    )
    up.set_defaults(func=run_up)

    down = local.add_parser("down", help="stop the local stack; no process is left behind")
    _state_arg(down)
    down.set_defaults(func=run_down)

    status = local.add_parser("status", help="show the local stack's processes, URLs and resource names")
    _state_arg(status)
    status.add_argument("--json", action="store_true", help="print state.json")
    status.set_defaults(func=run_status)

    env = local.add_parser(
        "env",
        help="print export lines that point any AWS tool at the running stack",
        description=(
            "Print shell `export` lines (endpoints per service, STS and SageMaker included, region, "
            "dummy credentials) so that the AWS CLI, boto3 and the SageMaker SDK talk to the local "
            'stack: eval "$(reelsight local env)".'
        ),
    )
    _state_arg(env)
    env.set_defaults(func=run_env)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def _state_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir", help="state directory (default: REELSIGHT_LOCAL_STATE_DIR or ./.local-stack)"
    )


def run_up(args: argparse.Namespace) -> int:
    from reelsight.local.launcher import LaunchRequest, launch

    request = LaunchRequest(
        state_dir=args.state_dir,
        cdk_out=args.cdk_out,
        synth=not args.no_synth,
        model=args.model,
        weights=args.weights,
        fps=args.fps,
        max_frames=args.max_frames,
        size=args.size,
        resize=args.resize,
        api=not args.no_api,
        worker_concurrency=args.worker_concurrency,
        timeout=args.timeout,
    )
    if args.foreground:
        from reelsight.local.launcher import run_foreground

        return run_foreground(request)
    state = launch(request, echo=lambda line: print(line, flush=True))
    _print_summary(state)
    return 0


def run_down(args: argparse.Namespace) -> int:
    from reelsight.local.state import state_dir
    from reelsight.local.supervisor import stop_stack

    directory = state_dir(args.state_dir)
    if stop_stack(directory):
        print(f"local stack in {directory} stopped")
    else:
        print(f"no local stack running in {directory}")
    return 0


def run_status(args: argparse.Namespace) -> int:
    import json

    from reelsight.local.state import pid_alive, read_state, state_dir

    directory = state_dir(args.state_dir)
    state = read_state(directory)
    if not state:
        print(f"no local stack in {directory}")
        return 1
    if args.json:
        print(json.dumps(state, indent=2, sort_keys=True))
        return 0
    running = pid_alive(state.get("supervisor_pid"))
    status = state.get("status") if running else f"{state.get('status')} (supervisor not running)"
    print(f"local stack: {status}  [{directory}]")
    _print_summary(state)
    for name, proc in sorted((state.get("processes") or {}).items()):
        alive = "up" if pid_alive(proc.get("pid")) else "down"
        print(
            f"  {name:<24} pid {proc.get('pid')!s:<8} {alive:<5} "
            f"restarts {proc.get('restarts', 0)}  log {proc.get('log')}"
        )
    return 0 if running and state.get("status") == "ready" else 1


def run_env(args: argparse.Namespace) -> int:
    from reelsight.local.client_env import export_lines
    from reelsight.local.state import pid_alive, read_state, state_dir

    directory = state_dir(args.state_dir)
    state = read_state(directory)
    if not state or state.get("status") != "ready" or not pid_alive(state.get("supervisor_pid")):
        print(f"no local stack is ready in {directory}; start one with `reelsight local up`", file=sys.stderr)
        return 1
    if not state.get("client_env"):
        print(f"the stack in {directory} is older than `local env`; restart it", file=sys.stderr)
        return 1
    print("\n".join(export_lines(state["client_env"])))
    return 0


def _print_summary(state: dict[str, Any]) -> None:
    names = state.get("names") or {}
    lines = [
        ("AWS endpoint (moto)", state.get("moto_url")),
        ("SageMaker runtime", state.get("endpoint_url")),
        ("SageMaker API", state.get("control_plane_url")),
        ("worker", state.get("worker_url")),
        ("API", state.get("api_url")),
        ("input bucket", names.get("input_bucket")),
        ("results bucket", names.get("results_bucket")),
        ("jobs table", names.get("jobs_table")),
        ("results topic", names.get("results_topic")),
        ("model", f"{state.get('model')} ({state.get('weights')} weights)"),
    ]
    for label, value in lines:
        if value:
            print(f"  {label:<20} {value}")
    if state.get("random_weights"):
        print(
            "  WARNING: the worker uses RANDOM weights (no pretrained checkpoint cached); "
            "detections are noise."
        )
    sys.stdout.flush()
