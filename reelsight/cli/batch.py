"""``reelsight batch start | resume | status``: Processing jobs over many videos, or one long video
cut by time, sharded over several instances (docs/batch.md).

Every command writes or reads the same things as the upload form: a batch request document
(``batch/<name>.batch.json`` in the input bucket, :class:`reelsight.contract.batch.BatchRequest`),
the job's plan and its parts' markers in the results bucket, and the job records.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

from reelsight.cli.submit import OPTION_FLAGS, _client, _print_record, _target_args

if TYPE_CHECKING:
    from reelsight.client import Client, Submission
    from reelsight.contract.batch import BatchRequest, PartView
    from reelsight.contract.jobs import JobRecord

# Run-option flags of `batch start`: `reelsight submit`'s, less `--route` (a batch is always a Processing
# job). `--mode` is the job's mode (infer | frames), so the sampling mode is `--sampling-mode`; the
# rate flags go in a group of their own (one or the other).
_RATE_KEYS = ("fps", "every_seconds")
_RENAMED = {"--mode": "--sampling-mode"}
RATE_FLAGS: tuple[tuple[str, str, str], ...] = tuple(f for f in OPTION_FLAGS if f[1] in _RATE_KEYS)
RUN_OPTION_FLAGS: tuple[tuple[str, str, str], ...] = tuple(
    (_RENAMED.get(flag, flag), key, text)
    for flag, key, text in OPTION_FLAGS
    if key not in (*_RATE_KEYS, "route")
)


def register(subparsers: Any) -> None:

    batch = subparsers.add_parser(
        "batch",
        help="Processing jobs over many videos or one long video, over several instances",
        description=(
            "Start, resume and follow batch jobs (many videos, one part each) and split jobs (one long "
            "video cut by time into one range per instance). See docs/batch.md."
        ),
    )
    commands = batch.add_subparsers(dest="batch_command", metavar="COMMAND")
    _register_start(commands, _target_args)
    _register_resume(commands, _target_args)
    status = commands.add_parser(
        "status", help="a batch or split job's record and its parts, with live progress while it runs"
    )
    status.add_argument("job", metavar="JOB_ID", help="the job id `batch start` printed")
    status.add_argument("--json", action="store_true", help="print the record and the parts as JSON")
    _target_args(status)
    status.set_defaults(func=run_status)
    batch.set_defaults(func=lambda _args: _no_command(batch))


def _no_command(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _register_start(commands: Any, target_args: Any) -> None:
    start = commands.add_parser(
        "start",
        help="start a batch job (videos or a prefix) or, with --split, a split job over one video",
        description=(
            "Write a batch request document (batch/<name>.batch.json) to the input bucket; the stack's "
            "dispatcher plans the job and starts one SageMaker Processing job over --instances hosts. "
            "Prints the job id at once; --wait follows it to the end."
        ),
    )
    start.add_argument(
        "videos",
        nargs="*",
        metavar="VIDEO",
        help="s3:// URI or key of a video in the input bucket (repeatable; or use --prefix)",
    )
    start.add_argument("--prefix", help="every video under this s3:// URI or key prefix of the input bucket")
    start.add_argument(
        "--mode", choices=("infer", "frames"), default="infer", help="infer: run the model (default); "
        "frames: write the sampled frames as images",
    )  # fmt: skip
    start.add_argument(
        "--image-format",
        choices=("jpg", "png"),
        default="jpg",
        help="frames mode image format (default: jpg)",
    )
    start.add_argument(
        "--instances",
        type=int,
        metavar="N",
        help="Processing instances (default: the deployment's); with --split, the number of time ranges",
    )
    start.add_argument(
        "--split", action="store_true", help="cut the one VIDEO by time into --instances ranges, one per host"
    )
    start.add_argument(
        "--name", help="request document name: batch/<NAME>.batch.json (default: batch-<time>-<random>)"
    )
    rates = start.add_mutually_exclusive_group()
    for flag, key, text in RATE_FLAGS:
        rates.add_argument(flag, dest=f"opt_{key}", metavar=key.upper(), help=text)
    options = start.add_argument_group("run options (the same for every video)")
    for flag, key, text in RUN_OPTION_FLAGS:
        options.add_argument(flag, dest=f"opt_{key}", metavar=flag[2:].upper().replace("-", "_"), help=text)
    options.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="any other run option (repeatable)"
    )
    _wait_args(start)
    target_args(start)
    start.set_defaults(func=run_start)


def _register_resume(commands: Any, target_args: Any) -> None:
    resume = commands.add_parser(
        "resume",
        help="rerun the parts of a PARTIAL or FAILED batch or split job that did not finish",
        description=(
            "Write a resume request for JOB_ID: the dispatcher starts the job's next attempt over the "
            "parts without a completion marker; finished parts are kept, not rerun."
        ),
    )
    resume.add_argument("job", metavar="JOB_ID", help="the batch or split job to resume")
    _wait_args(resume)
    target_args(resume)
    resume.set_defaults(func=run_resume)


def _wait_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait", action="store_true", help="follow the job until it ends, showing parts done/total"
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds --wait waits (default: 3600)")
    parser.add_argument(
        "--interval", type=float, default=5.0, help="seconds between polls of --wait (default: 5)"
    )


# --- commands -------------------------------------------------------------------------------------


def run_start(args: argparse.Namespace) -> int:

    request = request_from_args(args)
    client = _client(args)
    submission = client.submit_batch(request, name=args.name)
    print(f"wrote {submission.source} to the {client.target.kind} stack")
    job_id = submission.expected_job_id
    print(f"job id: {job_id}" if job_id else "job id: given by the dispatcher (found by its source)")
    if not args.wait:
        return 0
    return _finish(client, _follow(client, submission, args, started=True))


def run_resume(args: argparse.Namespace) -> int:

    client = _client(args)
    before = client.get_job(args.job)
    submission = client.resume_batch(args.job)
    print(f"wrote {submission.source}: resuming job {args.job}")
    if not args.wait:
        return 0
    seen = len(before.status_history or []) if before else 0
    record = _follow(client, args.job, args, started=False, history_seen=seen, request=submission)
    return _finish(client, record)


def run_status(args: argparse.Namespace) -> int:
    import json

    client = _client(args)
    record = client.get_job(args.job)
    if record is None:
        print(f"no job {args.job}", file=sys.stderr)
        return 1
    plan = client.batch_plan(args.job)
    parts = client.batch_parts(plan) if plan else []
    if args.json:
        print(json.dumps(status_document(record, parts), indent=2, sort_keys=True, default=str))
        return 0
    _print_record(record.to_item())
    if plan is None:
        print("parts            none yet (no plan.json: not a batch or split job, or not planned yet)")
        return 0
    print(f"kind             {plan.kind}")
    if record.attempt:
        print(f"attempt          {record.attempt}")
    print(f"parts            {parts_line(parts)}")
    for line in part_lines(client, record, parts):
        print(line)
    return 0


# --- the request ----------------------------------------------------------------------------------


def request_from_args(args: argparse.Namespace) -> BatchRequest:
    """The BatchRequest the flags state; ParamError naming what is wrong."""
    from reelsight.contract.batch import BatchRequest
    from reelsight.errors import ParamError

    if args.videos and args.prefix:
        raise ParamError("give either VIDEO arguments or --prefix, not both")
    if not args.videos and not args.prefix:
        raise ParamError("name the videos: VIDEO arguments (s3:// URIs or keys) or --prefix")
    if args.split and args.prefix:
        raise ParamError("--split cuts one video by time: name it as the one VIDEO argument, not --prefix")
    return BatchRequest(
        videos=tuple(args.videos),
        prefix=args.prefix,
        mode=args.mode,
        image_format=args.image_format,
        options=option_overrides(args),
        instance_count=args.instances,
        split=args.split,
    )


def option_overrides(args: argparse.Namespace) -> dict[str, str]:
    from reelsight.errors import ParamError

    options: dict[str, str] = {}
    for _, key, _ in (*RATE_FLAGS, *RUN_OPTION_FLAGS):
        value = getattr(args, f"opt_{key}", None)
        if value is not None:
            options[key] = str(value)
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ParamError(f"--param expects KEY=VALUE, got {item!r}")
        options[key.strip()] = value.strip()
    return options


# --- following a job ------------------------------------------------------------------------------


def _follow(
    client: Client,
    job: Submission | str,
    args: argparse.Namespace,
    *,
    started: bool,
    history_seen: int = 0,
    request: Submission | None = None,
) -> JobRecord:
    """Poll until the job ends; ``started`` False (a resume) waits first for the job to move on from
    the terminal status it had, so the previous attempt's end is not taken for this one's, and
    stops at once when the dispatcher rejected the resume ``request``."""
    from reelsight.cli.watch import JobWatcher, choose_mode
    from reelsight.client import JobTimeout

    watcher = JobWatcher(choose_mode(sys.stdout, False), history_seen=history_seen)
    parts = PartsLine(client)
    deadline = time.monotonic() + args.timeout
    try:
        while True:
            record = client.get_job(job) if isinstance(job, str) else client.find_job(job)
            if record is not None:
                started = started or len(record.status_history or []) > history_seen
                started = started or not record.terminal
                if started:
                    watcher.update(record.status_text or "", record)
                    parts.update(record.job_id)
                    if record.terminal:
                        return record
            rejected = _rejected(client, request) if not started else None
            if rejected is not None:
                return rejected
            if time.monotonic() >= deadline:
                raise JobTimeout(f"the job did not finish within {args.timeout:.0f}s")
            time.sleep(args.interval)
    finally:
        watcher.close()


def _rejected(client: Client, request: Submission | None) -> JobRecord | None:
    """The request's own record when the dispatcher rejected it (e.g. nothing left to resume)."""
    from reelsight.contract.jobs import JobStatus

    for job_id in request.job_ids() if request is not None else []:  # no table scan per poll
        record = client.get_job(job_id)
        if record is not None and record.status is JobStatus.REJECTED:
            return record
    return None


class PartsLine:
    """Prints ``  parts: 3/10 done, 1 failed`` whenever it changes."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.last: str | None = None

    def update(self, job_id: str) -> None:
        plan = self.client.batch_plan(job_id)
        if plan is None:
            return
        line = parts_line(self.client.batch_parts(plan))
        if line != self.last:
            self.last = line
            print(f"  parts: {line}", flush=True)


def _finish(client: Client, record: JobRecord) -> int:
    print(f"job {record.job_id}: {record.status_text}")
    if record.reason:
        print(f"reason: {record.reason}")
    plan = client.batch_plan(record.job_id)
    if plan is not None:
        for line in part_lines(client, record, client.batch_parts(plan)):
            print(line)
    print(f"results: {record.output_location or record.results_prefix or ''}".rstrip())
    return 0 if record.status_text == "SUCCEEDED" else 1


# --- rendering ------------------------------------------------------------------------------------


def parts_line(parts: list[PartView]) -> str:
    """``3/10 done, 1 failed, 6 pending``."""
    done = sum(1 for p in parts if p.state == "done")
    failed = sum(1 for p in parts if p.state == "failed")
    pending = len(parts) - done - failed
    shown = [f"{done}/{len(parts)} done"]
    shown += [f"{failed} failed"] if failed else []
    shown += [f"{pending} pending"] if pending else []
    return ", ".join(shown)


def part_lines(client: Client, record: JobRecord, parts: list[PartView]) -> list[str]:
    """A table of the parts: state, the video's own job record (batch), live progress, reason."""
    lines = [f"  {'PART':<28} {'STATE':<8} {'JOB':<48} PROGRESS / REASON"]
    for part in parts:
        own = client.get_job(part.job_id) if part.job_id else None
        status = f"{part.job_id} {own.status_text}" if own else (part.job_id or "")
        detail = part.reason or (own.reason if own else None) or _progress_text(record, own, part)
        lines.append(f"  {part.part_id:<28} {part.state:<8} {status:<48} {detail}".rstrip())
    return lines


def _progress_text(record: JobRecord, own: JobRecord | None, part: PartView) -> str:
    """The part's live progress: its own record's, else the job's entry for its video."""
    from reelsight.cli.watch import progress_line
    from reelsight.contract.progress import VideoProgress, job_progress

    if part.state != "pending":
        return ""
    progress = job_progress(own.progress) if own and own.progress else None
    if progress is None:
        entry = _entry_for(record.progress or {}, part)
        progress = VideoProgress.from_json(entry) if entry is not None else None
    return progress_line("", progress).strip() if progress else ""


def _entry_for(progress: dict[str, Any], part: PartView) -> Any:
    """The job's progress entry of a part: by its id, its video's key, or its file name."""
    video_name = part.video.rsplit("/", 1)[-1]
    for name in (part.part_id, part.video, video_name):
        if name in progress:
            return progress[name]
    return next((v for k, v in progress.items() if k.rsplit("/", 1)[-1] == video_name), None)


def status_document(record: JobRecord, parts: list[PartView]) -> dict[str, Any]:
    from dataclasses import asdict

    return {"job": record.to_item(), "parts": [asdict(part) for part in parts]}
