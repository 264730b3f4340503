"""``make demo``: the whole flow on the local stack, start to finish, in a few minutes on a laptop.

1. synthesize the templates (when missing), 2. start the local stack, 3. write a short sample
video and submit it, 4. print the job's status changes, the result summary and the result
files, 5. stop the stack (also on failure or Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reelsight.contract.names import SUMMARY_FILE

if TYPE_CHECKING:
    from reelsight.client import Client, Submission
    from reelsight.contract.jobs import JobRecord

BANNER = "!" * 78


def _say(text: str = "") -> None:
    print(text, flush=True)


def _loud(lines: list[str]) -> None:
    _say(BANNER)
    for line in lines:
        _say(f"!!  {line}")
    _say(BANNER)


def run(args: argparse.Namespace) -> int:
    from reelsight.client import local_target
    from reelsight.local.state import read_state, state_dir

    started = time.monotonic()
    directory = state_dir(args.state_dir)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    already_running = bool((read_state(directory) or {}).get("status") == "ready" and local_target(directory))
    signal.signal(signal.SIGTERM, _interrupt)
    stop_needed = False
    try:
        _say("== 1-2. starting the local stack (templates, moto, Lambdas, async endpoint, worker)")
        stop_needed = not already_running
        _start_stack(args, directory)
        client, submission = _submit_sample(args, directory, out)
        job = _follow(client, submission, args.job_timeout)
        return _report(client, job, out)
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    finally:
        _finish(directory, stop=stop_needed or args.always_stop)
        _say(f"demo finished in {time.monotonic() - started:.0f}s")


def _interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _start_stack(args: argparse.Namespace, directory: Path) -> None:
    from reelsight.local.launcher import LaunchRequest, launch

    request = LaunchRequest(
        state_dir=str(directory),
        cdk_out=args.cdk_out,
        model=args.model,
        weights=args.weights,
        fps=args.fps,
        size=args.size,
        api=not args.no_api,
        timeout=args.timeout,
    )
    state = launch(request, echo=lambda line: _say(f"   {line}"))
    names = state.get("names") or {}
    _say(f"   input bucket {names.get('input_bucket')}, jobs table {names.get('jobs_table')}")
    if state.get("random_weights"):
        _loud(
            [
                f"NO PRETRAINED WEIGHTS for {state.get('model')} in the torch hub cache:",
                "the worker runs with RANDOM weights. The flow is real, the detections are noise.",
                "Cache the torchvision checkpoint (TORCH_HOME) to get meaningful results.",
            ]
        )


def _submit_sample(args: argparse.Namespace, directory: Path, out: Path) -> tuple[Client, Submission]:
    from reelsight.client import Client, local_target
    from reelsight.testing.videos import write_video

    _say("== 3. writing a sample video and submitting it")
    video = write_video(out / "sample.mp4", seconds=args.seconds, fps=30, width=640, height=360, gop=30)
    _say(f"   {video.path} ({video.width}x{video.height}, {video.frame_count} frames)")
    target = local_target(directory)
    if target is None:
        raise RuntimeError("the local stack is not ready")
    client = Client(target)
    options = {"fps": args.fps, "include": "masks+contact_sheet+preview"}
    submission = client.upload(video.path, options)
    job_ids = submission.job_ids()
    _say(f"   uploaded {submission.source} with metadata {options}; job id {job_ids[-1]}")
    return client, submission


def _follow(client: Client, submission: Submission, timeout: float) -> JobRecord:
    """Wait for the job, printing each status change with the time since submission."""
    _say("== 4. following the job")
    t0 = time.monotonic()

    def on_change(status: str, job: JobRecord | None) -> None:
        reason = f" ({job.reason})" if job and job.reason else ""
        _say(f"   +{time.monotonic() - t0:5.1f}s  {status}{reason}")

    return client.wait(submission, timeout=timeout, on_change=on_change)


def _report(client: Client, job: JobRecord, out: Path) -> int:
    """Fetch the job's files and print its summary; 1 when the job did not succeed."""
    from reelsight.client import describe_summary
    from reelsight.contract.jobs import JobStatus
    from reelsight.contract.summary import ShortSummary

    results_dir = out / job.job_id
    files = client.fetch(job, results_dir)
    if job.status is not JobStatus.SUCCEEDED:
        _say(f"   job {job.status_text}: {job.reason}")
        return 1
    summary_path = results_dir / SUMMARY_FILE
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else job.summary or {}
    _say("   result summary:")
    for line in describe_summary(summary):
        _say(f"     {line}")
    if ShortSummary.from_json(summary).random_weights:  # a full summary.json or the record's short form
        _loud(["These results come from RANDOM weights (summary.model.random_weights = true)."])
    _say("   result files:")
    for file in files:
        _say(f"     {file.relative_to(out)}  ({file.stat().st_size} bytes)")
    _say(f"   (under {out})")
    return 0


def _finish(directory: Path, *, stop: bool) -> None:
    from reelsight.local.supervisor import stop_stack

    if stop:
        _say("== 5. stopping the local stack")
        stop_stack(directory)
    else:
        _say("== 5. leaving the local stack running (it was running before the demo)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run reelsight's main flow on the local stack.")
    parser.add_argument("--state-dir", help="local stack state directory (default: ./.local-stack)")
    parser.add_argument("--cdk-out", default="cdk.out")
    parser.add_argument(
        "--out", default="demo-out", help="where the sample video and results go (default: demo-out)"
    )
    parser.add_argument("--model", default="maskrcnn")
    parser.add_argument("--weights", default="auto", help="auto | pretrained | random (default: auto)")
    parser.add_argument("--fps", default="1", help="samples per second (default: 1)")
    parser.add_argument("--size", default="320x180", help="model input size (default: 320x180)")
    parser.add_argument("--seconds", type=float, default=5.0, help="sample video length (default: 5)")
    parser.add_argument("--timeout", type=float, default=240.0, help="stack start-up timeout (default: 240)")
    parser.add_argument("--job-timeout", type=float, default=600.0, help="job timeout (default: 600)")
    parser.add_argument("--no-api", action="store_true", help="do not start the API server")
    parser.add_argument(
        "--always-stop", action="store_true", help="stop the stack even if it was already running"
    )
    args = parser.parse_args(argv)
    from reelsight.errors import ReelsightError

    try:
        return run(args)
    except ReelsightError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
