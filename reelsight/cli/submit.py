"""``reelsight submit | status | fetch``: send a video to a stack (local or AWS) and follow its job."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from reelsight.contract.jobs import JobRecord, JobStatus
from reelsight.contract.names import SUMMARY_FILE

# CLI flag -> run-option key sent as x-amz-meta-<key>
OPTION_FLAGS: tuple[tuple[str, str, str], ...] = (
    ("--model", "model", "model name (see `reelsight models`)"),
    ("--weights", "weights", "pretrained | random | s3:// checkpoint"),
    ("--fps", "fps", "samples per second of video time"),
    ("--every-seconds", "every_seconds", "one sample every N seconds (instead of --fps)"),
    ("--start", "start", "first second to sample"),
    ("--end", "end", "last second to sample"),
    ("--max-frames", "max_frames", "cap on sampled frames"),
    ("--mode", "mode", "exact | keyframes"),
    ("--resize", "resize", "none | fit | stretch | crop"),
    ("--size", "size", "model input size WxH, e.g. 640x360"),
    ("--batch-size", "batch_size", "frames per model call"),
    ("--precision", "precision", "auto | fp32 | bf16 | fp16"),
    ("--score-threshold", "score_threshold", "minimum detection score"),
    ("--include", "include", "artifacts, joined by '+': masks, mask_pngs, contact_sheet, preview, frames"),
    ("--track", "track", "true | false: follow objects across frames; 10 fps unless a rate is given"),
    ("--route", "route", "auto | async | processing"),
)


def _target_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("stack")
    group.add_argument(
        "--target",
        choices=("auto", "local", "aws"),
        default="auto",
        help="auto: the local stack when one runs, else AWS (default: auto)",
    )
    group.add_argument("--state-dir", help="local stack state directory (default: ./.local-stack)")
    group.add_argument(
        "--stack-prefix", default="reelsight", help="AWS: stack name prefix (default: reelsight)"
    )
    group.add_argument("--region", help="AWS region (default: the profile's)")
    group.add_argument("--profile", help="AWS profile (default: the environment's)")


def register(subparsers: Any) -> None:
    submit = subparsers.add_parser(
        "submit",
        help="upload a video to the stack's input bucket and (with --wait) follow its job",
        description=(
            "Upload VIDEO under the upload prefix with the run options as S3 user metadata; the stack "
            "dispatches it. With --wait, print each status change, the result summary and the result files."
        ),
    )
    submit.add_argument("video", help="video file to upload")
    for flag, key, text in OPTION_FLAGS:
        submit.add_argument(flag, dest=f"opt_{key}", metavar=key.upper(), help=text)
    submit.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="any other run option (repeatable)"
    )
    submit.add_argument(
        "--key", help="object key to upload to (default: <prefix><time>-<random>/<file name>)"
    )
    submit.add_argument("--wait", action="store_true", help="wait until the job ends")
    submit.add_argument("--timeout", type=float, default=600.0, help="seconds --wait waits (default: 600)")
    submit.add_argument(
        "--interval", type=float, default=2.0, help="seconds between polls of --wait (default: 2)"
    )
    submit.add_argument("--fetch", metavar="DIR", help="with --wait: download the results into DIR")
    submit.add_argument("--no-progress", action="store_true", help="no upload progress bar")
    _target_args(submit)
    submit.set_defaults(func=run_submit)

    status = subparsers.add_parser("status", help="one job's record, or a table of recent jobs")
    status.add_argument("job", nargs="?", help="job id (default: list recent jobs)")
    status.add_argument("--limit", type=int, default=20, help="jobs in the table (default: 20)")
    status.add_argument(
        "--json",
        action="store_true",
        help="print the job record as JSON (with --watch: one JSON object per line and change)",
    )
    status.add_argument(
        "--watch",
        action="store_true",
        help="follow the job until it ends: a progress bar on a terminal, a line per change otherwise",
    )
    status.add_argument(
        "--interval", type=float, default=2.0, help="seconds between polls of --watch (default: 2)"
    )
    status.add_argument("--timeout", type=float, default=3600.0, help="seconds --watch waits (default: 3600)")
    _target_args(status)
    status.set_defaults(func=run_status)

    fetch = subparsers.add_parser(
        "fetch", help="download a job's results (summary.json, frames.jsonl, artifacts)"
    )
    fetch.add_argument("job", help="job id")
    fetch.add_argument("dest", help="directory to write to")
    _target_args(fetch)
    fetch.set_defaults(func=run_fetch)


def _client(args: argparse.Namespace) -> Any:
    from reelsight.client import Client, discover

    target = discover(
        args.target,
        state_dir=args.state_dir,
        stack_prefix=args.stack_prefix,
        region=args.region,
        profile=args.profile,
    )
    return Client(target)


def _options(args: argparse.Namespace) -> dict[str, str]:
    from reelsight.errors import ParamError

    options = {
        key: str(getattr(args, f"opt_{key}")) for _, key, _ in OPTION_FLAGS if getattr(args, f"opt_{key}")
    }
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ParamError(f"--param expects KEY=VALUE, got {item!r}")
        options[key.strip()] = value.strip()
    for key, value in options.items():
        if any(sep in value for sep in ",;="):
            raise ParamError(f"{key}: values must not contain ',', ';' or '=' (join artifacts with '+')")
    return options


def run_submit(args: argparse.Namespace) -> int:
    from pathlib import Path

    from reelsight.client import describe_summary
    from reelsight.errors import ParamError

    options = _options(args)
    path = Path(args.video)
    if not path.is_file():
        raise ParamError(f"no such file: {path}")
    client = _client(args)
    bar = None
    callback = None
    if not args.no_progress and path.is_file():
        from tqdm import tqdm

        bar = tqdm(
            total=path.stat().st_size, unit="B", unit_scale=True, desc=f"upload {path.name}", file=sys.stderr
        )
        callback = bar.update
    try:
        submission = client.upload(path, options, key=args.key, progress=callback)
    finally:
        if bar is not None:
            bar.close()
    print(f"uploaded {submission.source} ({submission.size} bytes) to the {client.target.kind} stack")
    expected = submission.expected_job_id
    print(f"job id: {expected}" if expected else "job id: given by the dispatcher (found by its source)")
    if not args.wait:
        return 0

    job = _follow(client, submission, args, as_json=False)
    print(f"job {job.job_id}: {job.status_text}")
    if job.status is not JobStatus.SUCCEEDED:
        print(f"reason: {job.reason}")
        return 1
    summary: dict[str, Any] = job.summary or {}
    if args.fetch:
        files = client.fetch(job, args.fetch)
        full = Path(args.fetch) / SUMMARY_FILE
        if full.is_file():
            import json

            summary = json.loads(full.read_text())
        for line in describe_summary(summary):
            print(line)
        print("result files:")
        for file in files:
            print(f"  {file}")
    else:
        for line in describe_summary(summary):
            print(line)
        print(f"results: {job.output_location or job.results_prefix}")
        print(f"download them with: reelsight fetch {job.job_id} DIR")
    return 0


def _follow(client: Any, job: Any, args: argparse.Namespace, *, as_json: bool) -> JobRecord:
    """Poll ``job`` (a Submission or a job id) until it ends, rendering each change."""
    from reelsight.cli.watch import JobWatcher, choose_mode

    watcher = JobWatcher(choose_mode(sys.stdout, as_json))
    try:
        record: JobRecord = client.wait(
            job, timeout=args.timeout, interval=args.interval, on_poll=watcher.update
        )
    finally:
        watcher.close()
    return record


def run_status(args: argparse.Namespace) -> int:
    import json

    client = _client(args)
    if args.job and args.watch:
        if not client.get_job(args.job):
            print(f"no job {args.job}", file=sys.stderr)
            return 1
        watched = _follow(client, args.job, args, as_json=args.json)
        if not args.json:
            _print_record(watched.to_item())
        return 0 if watched.status is JobStatus.SUCCEEDED else 1
    if args.job:
        record = client.get_job(args.job)
        if not record:
            print(f"no job {args.job}", file=sys.stderr)
            return 1
        job = record.to_item()
        if args.json:
            print(json.dumps(job, indent=2, sort_keys=True, default=str))
            return 0
        _print_record(job)
        return 0
    return _print_jobs(client, args)


def _print_record(job: dict[str, Any]) -> None:
    for key in (
        "job_id",
        "status",
        "reason",
        "source",
        "route",
        "created_at",
        "finished_at",
        "output_location",
    ):
        if job.get(key):
            print(f"{key:<16} {job[key]}")
    _print_progress(job)
    _print_receipt(job)
    for entry in job.get("status_history") or []:
        print(f"  {entry.get('at')}  {entry.get('status')}  {entry.get('reason') or ''}".rstrip())


def _print_progress(job: dict[str, Any]) -> None:
    """``progress  RUNNING 8/16 frames (50%) ...`` while an unfinished job reports progress."""
    from reelsight.cli.watch import progress_line
    from reelsight.contract.progress import job_progress

    status = JobStatus.read(job.get("status"))
    progress = job_progress(job.get("progress"))
    if status is not None and not status.terminal and progress is not None and progress.frames_done:
        print(f"{'progress':<16} {progress_line(status.value, progress)}")


def _print_receipt(job: dict[str, Any]) -> None:
    """The job's ``cost:`` line, from its summary's receipt (none before it has one)."""
    from reelsight.estimate import receipt_line

    line = receipt_line(job.get("summary"))
    if line:
        print(line)


def _print_jobs(client: Any, args: argparse.Namespace) -> int:
    import json

    jobs = client.recent_jobs(args.limit)
    if args.json:
        print(json.dumps([job.to_item() for job in jobs], indent=2, sort_keys=True, default=str))
        return 0
    if not jobs:
        print("no jobs yet")
        return 0
    print(f"{'JOB':<34} {'STATUS':<10} {'CREATED':<25} VIDEO")
    for listed in jobs:
        print(
            f"{listed.job_id:<34} {listed.status_text or '':<10} "
            f"{listed.created_at or '':<25} {listed.video or ''}"
        )
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    client = _client(args)
    files = client.fetch(args.job, args.dest)
    for file in files:
        print(file)
    return 0
