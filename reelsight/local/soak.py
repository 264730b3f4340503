"""A soak of the local stack with faults: many uploads through the real flow, with the worker and
the endpoint SIGKILLed, S3 notifications and SNS deliveries duplicated, malformed events and
broken videos mixed in; then every upload is accounted for.

The faults go through the stack's own code paths: the processes are killed by pid from the
supervisor's ``state.json`` and restarted by the supervisor; the duplicates are copies of the
messages moto delivered, sent back to their queue by the event-source runners
(``reelsight.local.faults``); the malformed events are sent to the real queues. A job that ran
twice is found from its artifacts (the results bucket is versioned: ``summary.json`` written more
than once) and from the endpoint's durable queue (a request sent to the model more than once),
not from the job record. ``make soak`` runs it; see docs/local-stack.md.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reelsight import envvars
from reelsight.contract.jobs import JobRecord, decode_item, parse_time
from reelsight.contract.names import ARTIFACTS_FOLDER, JOBS_PREFIX, SUMMARY_FILE
from reelsight.local.faults import read_faults, record_fault

# What each kind of upload may end as; a good clip may also fail, but only from an injected fault.
GOOD = "clip"
EXPECTED = {
    GOOD: {"SUCCEEDED"},
    "not-a-video": {"FAILED"},
    "empty": {"FAILED", "REJECTED"},
    "truncated": {"FAILED", "SUCCEEDED"},  # what survives of a cut clip may still decode
    "not-a-video-key": {"REJECTED"},
}
BROKEN_KINDS = ("not-a-video", "empty", "truncated", "not-a-video-key")
FAULT_REASONS = ("stopped during the invocation", "the endpoint restarted")
MALFORMED_UPLOAD_EVENTS = (
    "not json {",
    json.dumps({"Records": "not a list"}),
    json.dumps({"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {}}}]}),
)
MALFORMED_RESULT_EVENTS = ("{truncated", json.dumps({"Type": "Notification", "Message": "{not json"}))
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "REJECTED", "PARTIAL"})
FAST_MODEL = "ssdlite"


@dataclass
class SoakOptions:
    uploads: int = 1000
    worker_kills: int = 3
    endpoint_kills: int = 1
    duplicate_fraction: float = 0.1
    broken_every: int = 20  # every n-th upload is a broken video (or not a video at all)
    malformed: int = 10
    rate: float = 0.0  # uploads per second; 0: as fast as the uploaders go
    uploaders: int = 4
    timeout: float = 1800.0  # for every upload to reach a terminal state, after the last one
    state_dir: str | None = None
    cdk_out: str = "cdk.out"
    keep: bool = False  # leave the stack running afterwards


@dataclass
class Upload:
    index: int
    kind: str
    key: str
    source: str = ""
    uploaded_at: float = 0.0


@dataclass
class SoakReport:
    options: dict[str, Any]
    startup_seconds: float
    run_seconds: float  # from the first upload to the last terminal state
    uploads: dict[str, int]
    jobs: int
    statuses: dict[str, int]
    lost: list[str]
    run_twice: list[str]
    sent_twice: list[str]
    duplicate_jobs: list[str]
    unexpected: list[dict[str, Any]]
    fault_failures: int
    faults: dict[str, Any]
    dead_letters: dict[str, list[str]]
    latency: dict[str, float]
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        problems = (self.lost, self.run_twice, self.sent_twice, self.duplicate_jobs, self.unexpected)
        return not any(problems) and not any(self.dead_letters.values())

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}

    def to_text(self) -> str:
        lines = [
            f"soak: {sum(self.uploads.values())} uploads; the stack started in {self.startup_seconds:.0f} s;"
            f" first upload to last terminal state {self.run_seconds:.0f} s"
            f" ({sum(self.uploads.values()) / max(self.run_seconds, 1e-9):.2f} uploads/s)",
            *(f"  note: {note}" for note in self.notes),
            f"uploads by kind: {_fmt(self.uploads)}",
            f"jobs: {self.jobs}; terminal states: {_fmt(self.statuses)}",
            f"  failed by an injected fault (with its reason): {self.fault_failures}",
            f"jobs lost (no terminal job record): {len(self.lost)} {self.lost[:5]}",
            f"jobs run twice (summary.json written more than once): {len(self.run_twice)}"
            f" {self.run_twice[:5]}",
            f"requests sent to the model twice (endpoint queue): {len(self.sent_twice)}"
            f" {self.sent_twice[:5]}",
            f"uploads with more than one job: {len(self.duplicate_jobs)} {self.duplicate_jobs[:5]}",
            f"unexpected outcomes: {len(self.unexpected)} {self.unexpected[:3]}",
            f"faults: {json.dumps(self.faults, sort_keys=True)}",
            "dead-letter queues: "
            + ", ".join(f"{role}: {len(bodies)}" for role, bodies in sorted(self.dead_letters.items())),
            "upload to terminal state: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.latency.items()),
            "PASSED" if self.passed else "FAILED",
        ]
        return "\n".join(lines)


def _fmt(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by the nearest-rank method; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q * len(ordered))))
    return ordered[rank - 1]


def upload_kinds(count: int, broken_every: int) -> list[str]:
    """The kind of each upload: clips, with a broken one (rotating the kinds) every ``broken_every``."""
    kinds = []
    for i in range(count):
        if broken_every and i % broken_every == broken_every - 1:
            kinds.append(BROKEN_KINDS[(i // broken_every) % len(BROKEN_KINDS)])
        else:
            kinds.append(GOOD)
    return kinds


def write_inputs(directory: Path) -> dict[str, Path]:
    """One file per kind: a tiny clip (the soak measures the plumbing, not the model) and the broken ones."""
    from reelsight.testing.videos import write_empty, write_not_a_video, write_truncated, write_video

    directory.mkdir(parents=True, exist_ok=True)
    clip = write_video(directory / "clip.mp4", seconds=1, fps=5, width=96, height=64, gop=5).path
    notes = directory / "notes.txt"
    notes.write_text("not a video\n")
    return {
        GOOD: clip,
        "not-a-video": write_not_a_video(directory / "not-a-video.mp4"),
        "empty": write_empty(directory / "empty.mp4"),
        "truncated": write_truncated(clip, directory / "truncated.mp4", 0.4),
        "not-a-video-key": notes,
    }


class StackHandle:
    """What the soak reads and does on the running stack."""

    def __init__(self, state_dir: Path) -> None:
        from reelsight.client import Client, local_target
        from reelsight.local.state import read_state

        target = local_target(state_dir)
        if target is None:
            raise RuntimeError(f"no ready local stack in {state_dir}")
        self.dir = state_dir
        self.client = Client(target)
        self._read_state = read_state
        self.plan = json.loads((state_dir / "plan.json").read_text())

    def state(self) -> dict[str, Any]:
        return self._read_state(self.dir) or {}

    def aws(self, service: str) -> Any:
        return self.client._client(service)

    def queue_url(self, role: str) -> str:
        return str(next(q["url"] for q in self.plan["queues"] if q["role"] == role))

    def endpoint_stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.state()['endpoint_url']}/local/stats", timeout=10) as resp:
            return dict(json.load(resp))

    def jobs(self) -> list[JobRecord]:
        scan = self.aws("dynamodb").get_paginator("scan").paginate(TableName=self.client.target.jobs_table)
        return [JobRecord.from_item(decode_item(item)) for page in scan for item in page.get("Items", [])]

    def summary_versions(self) -> Counter[str]:
        """How many times each job's summary.json was written (the results bucket keeps every version)."""
        counts: Counter[str] = Counter()
        pages = (
            self.aws("s3")
            .get_paginator("list_object_versions")
            .paginate(Bucket=self.client.target.results_bucket, Prefix=JOBS_PREFIX)
        )
        suffix = f"/{ARTIFACTS_FOLDER}{SUMMARY_FILE}"
        for page in pages:
            for version in page.get("Versions", []):
                if version["Key"].endswith(suffix):
                    counts[version["Key"].removeprefix(JOBS_PREFIX).removesuffix(suffix)] += 1
        return counts

    def dead_letters(self) -> dict[str, list[str]]:
        """The bodies left in each dead-letter queue (read without removing them)."""
        sqs = self.aws("sqs")
        found: dict[str, list[str]] = {}
        for queue in self.plan["queues"]:
            if "dead-letter" not in queue["role"]:
                continue
            attrs = sqs.get_queue_attributes(QueueUrl=queue["url"], AttributeNames=["All"])["Attributes"]
            depth = int(attrs["ApproximateNumberOfMessages"]) + int(
                attrs["ApproximateNumberOfMessagesNotVisible"]
            )
            bodies = []
            if depth:
                answer = sqs.receive_message(
                    QueueUrl=queue["url"], MaxNumberOfMessages=10, VisibilityTimeout=0
                )
                bodies = [m["Body"][:300] for m in answer.get("Messages", [])]
                bodies += [""] * (depth - len(bodies))
            found[queue["role"]] = bodies
        return found

    def queue_depth(self, role: str) -> int:
        attrs = self.aws("sqs").get_queue_attributes(QueueUrl=self.queue_url(role), AttributeNames=["All"])
        values = attrs["Attributes"]
        return int(values["ApproximateNumberOfMessages"]) + int(
            values["ApproximateNumberOfMessagesNotVisible"]
        )

    def count_in_logs(self, text: str, pattern: str = "lambda-*.log") -> int:
        return sum(path.read_text(errors="replace").count(text) for path in (self.dir / "logs").glob(pattern))


class FaultInjector:
    """Kills the supervised processes (SIGKILL to their process group) at given points of the run,
    each while it holds work, and waits for the supervisor to restart it."""

    def __init__(self, stack: StackHandle, faults_file: Path, echo: Callable[[str], None]) -> None:
        self.stack = stack
        self.faults_file = faults_file
        self.echo = echo

    def kill(self, name: str) -> None:
        from reelsight.local.state import kill_group

        self._wait_busy(name)
        before = self.stack.state()["processes"][name]
        stats = self.stack.endpoint_stats()
        kill_group(int(before["pid"]), signal.SIGKILL)
        running, queued = stats["states"].get("invoking", 0), stats["backlog"]
        record_fault(self.faults_file, f"kill-{name}", pid=before["pid"], running=running, queued=queued)
        self.echo(f"SIGKILLed the {name} (pid {before['pid']}) with {running} running, {queued} queued")
        self._wait_restarted(name, int(before["restarts"]))

    def _wait_busy(self, name: str, timeout: float = 120.0) -> None:
        """Until a request is at the model (and, to kill the endpoint, another one queued)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stats = self.stack.endpoint_stats()
            if stats["states"].get("invoking", 0) >= 1 and (name != "endpoint" or stats["backlog"] >= 1):
                return
            time.sleep(0.05)

    def _wait_restarted(self, name: str, restarts: int, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.stack.state().get("processes", {}).get(name, {})
            restarted = int(info.get("restarts", 0)) > restarts and info.get("alive")
            if restarted and _healthy(info.get("health_url")):
                return
            time.sleep(0.25)
        raise RuntimeError(f"the supervisor did not restart the {name} within {timeout:.0f} s")


def _healthy(url: str | None) -> bool:
    if not url:
        return True
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def fault_schedule(options: SoakOptions) -> list[tuple[float, str]]:
    """(fraction of the uploads sent, fault): worker kills spread over the run, the endpoint's among them."""
    plan = [((i + 1) / (options.worker_kills + 1), "worker") for i in range(options.worker_kills)]
    plan += [((i + 1.2) / (options.endpoint_kills + 1), "endpoint") for i in range(options.endpoint_kills)]
    if options.malformed:
        plan.append((0.3, "malformed"))
    return sorted(plan)


class Soak:
    def __init__(self, options: SoakOptions, echo: Callable[[str], None] = print) -> None:
        self.options = options
        self.echo = echo
        self.work = Path(tempfile.mkdtemp(prefix="reelsight-soak-"))
        self.state_dir = Path(options.state_dir) if options.state_dir else self.work / "stack"
        self.faults_file = self.state_dir / "faults.jsonl"
        self.sent = 0
        self.startup_seconds = 0.0
        self._fault_error: Exception | None = None
        self._sent_lock = threading.Lock()

    def run(self) -> SoakReport:
        inputs = write_inputs(self.work / "inputs")
        started = time.monotonic()
        stack = self._start_stack()
        try:
            self.startup_seconds = time.monotonic() - started
            uploads = self._upload_with_faults(stack, inputs)
            self.echo("every fault injected; waiting for every job to end")
            jobs = self._wait_terminal(stack, uploads)
            self._wait_drained(stack)
            return self._report(stack, uploads, jobs)
        finally:
            if not self.options.keep:
                from reelsight.local.supervisor import stop_stack

                stop_stack(self.state_dir)

    def _start_stack(self) -> StackHandle:
        import os

        from reelsight.local.launcher import LaunchRequest, launch
        from reelsight.local.supervisor import stop_stack

        stop_stack(self.state_dir)  # the faults must reach every process: a fresh stack
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.faults_file.unlink(missing_ok=True)
        os.environ[envvars.LOCAL_DUPLICATE_FRACTION] = str(self.options.duplicate_fraction)
        os.environ[envvars.LOCAL_FAULTS_FILE] = str(self.faults_file)
        request = LaunchRequest(
            state_dir=str(self.state_dir),
            cdk_out=self.options.cdk_out,
            synth=False,
            model=FAST_MODEL,
            weights="random",
            fps="1",
            max_frames="1",
            size="160x120",
            api=False,
            timeout=300,
        )
        launch(request, echo=self.echo)
        return StackHandle(self.state_dir)

    def _upload_with_faults(self, stack: StackHandle, inputs: dict[str, Path]) -> list[Upload]:
        kinds = upload_kinds(self.options.uploads, self.options.broken_every)
        uploads = [Upload(i, kind, _key(i, kind, inputs[kind])) for i, kind in enumerate(kinds)]
        injector = FaultInjector(stack, self.faults_file, self.echo)
        faults = threading.Thread(target=self._inject, args=(stack, injector), daemon=True)
        faults.start()
        interval = 1.0 / self.options.rate if self.options.rate > 0 else 0.0
        begin = time.monotonic()

        def send(upload: Upload) -> None:
            if interval:
                time.sleep(max(0.0, begin + upload.index * interval - time.monotonic()))
            submission = stack.client.upload(inputs[upload.kind], {"max_frames": "1"}, key=upload.key)
            upload.source, upload.uploaded_at = submission.source, time.time()
            with self._sent_lock:
                self.sent += 1
                if self.sent % 100 == 0:
                    self.echo(f"{self.sent} uploads sent")

        with ThreadPoolExecutor(max_workers=self.options.uploaders) as pool:
            list(pool.map(send, uploads))
        self.echo(f"all {len(uploads)} uploads sent")
        faults.join()
        if self._fault_error is not None:
            raise RuntimeError(f"fault injection failed: {self._fault_error}")
        return uploads

    def _inject(self, stack: StackHandle, injector: FaultInjector) -> None:
        """Each fault once the endpoint has sent its fraction of the uploads to the model, so that the
        faults spread over the processing whatever the upload rate."""
        deadline = time.monotonic() + self.options.timeout
        try:
            for fraction, fault in fault_schedule(self.options):
                target = fraction * self.options.uploads
                while stack.endpoint_stats()["invocations"] < target and time.monotonic() < deadline:
                    time.sleep(0.1)
                if fault == "malformed":
                    self._send_malformed(stack)
                else:
                    injector.kill(fault)
        except Exception as exc:  # reported by the uploading thread
            self._fault_error = exc

    def _send_malformed(self, stack: StackHandle) -> None:
        sqs = stack.aws("sqs")
        targets = [("upload-queue", MALFORMED_UPLOAD_EVENTS), ("results-queue", MALFORMED_RESULT_EVENTS)]
        for i in range(self.options.malformed):
            role, bodies = targets[i % 2]
            body = bodies[(i // 2) % len(bodies)]
            sqs.send_message(QueueUrl=stack.queue_url(role), MessageBody=body)
            record_fault(self.faults_file, "malformed", queue=role)
        self.echo(f"sent {self.options.malformed} malformed events")

    def _wait_terminal(self, stack: StackHandle, uploads: list[Upload]) -> dict[str, list[JobRecord]]:
        deadline = time.monotonic() + self.options.timeout
        sources = {u.source for u in uploads}
        while True:
            by_source: dict[str, list[JobRecord]] = {}
            for job in stack.jobs():
                if job.source in sources:
                    by_source.setdefault(job.source, []).append(job)
            pending = [s for s in sources if not any(_terminal(j) for j in by_source.get(s, []))]
            if not pending or time.monotonic() > deadline:
                return by_source
            time.sleep(3.0)

    def _wait_drained(self, stack: StackHandle, timeout: float = 120.0) -> None:
        """Until the queues hold nothing more to deliver (the duplicates and malformed events included)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            depth = stack.queue_depth("upload-queue") + stack.queue_depth("results-queue")
            if depth == 0 and stack.endpoint_stats()["backlog"] == 0:
                return
            time.sleep(1.0)

    def _report(
        self, stack: StackHandle, uploads: list[Upload], jobs: dict[str, list[JobRecord]]
    ) -> SoakReport:
        faults = read_faults(self.faults_file)
        versions = stack.summary_versions()
        stats = stack.endpoint_stats()
        outcome = _outcomes(uploads, jobs)
        malformed_dropped = stack.count_in_logs("malformed message dropped")
        return SoakReport(
            options=asdict(self.options),
            startup_seconds=self.startup_seconds,
            run_seconds=_run_seconds(uploads, jobs),
            uploads=dict(Counter(u.kind for u in uploads)),
            jobs=sum(len(v) for v in jobs.values()),
            statuses=dict(Counter(str(j.status) for v in jobs.values() for j in v)),
            lost=outcome["lost"],
            run_twice=sorted(job_id for job_id, n in versions.items() if n > 1),
            sent_twice=sorted(src for src, n in stats["invocations_by_input"].items() if n > 1),
            duplicate_jobs=outcome["duplicate_jobs"],
            unexpected=outcome["unexpected"],
            fault_failures=outcome["fault_failures"],
            faults=_fault_summary(faults, stack, malformed_dropped),
            dead_letters=stack.dead_letters(),
            latency=_latency(uploads, jobs),
            notes=[
                f"fast model ({FAST_MODEL}, random weights) and tiny clips (96x64, 1 s, 1 frame sampled):"
                " this measures the plumbing, not the model",
                f"the stack's logs and faults.jsonl are in {self.state_dir}",
            ],
        )


def _key(index: int, kind: str, path: Path) -> str:
    return f"incoming/soak/{index:05d}-{kind}{path.suffix}"


def _terminal(job: JobRecord) -> bool:
    return str(job.status) in TERMINAL


def _terminal_at(job: JobRecord) -> float | None:
    for entry in reversed(job.status_history or []):
        if entry.get("status") in TERMINAL:
            moment = parse_time(entry.get("at"))
            return moment.timestamp() if moment else None
    return None


def _outcomes(uploads: list[Upload], jobs: dict[str, list[JobRecord]]) -> dict[str, Any]:
    lost, duplicates, unexpected, fault_failures = [], [], [], 0
    for upload in uploads:
        records = jobs.get(upload.source, [])
        ended = [j for j in records if _terminal(j)]
        if not ended:
            lost.append(upload.key)
            continue
        if len(records) > 1:
            duplicates.append(upload.key)
        job = ended[0]
        reason = job.reason or ""
        faulted = str(job.status) in ("FAILED", "PARTIAL") and any(r in reason for r in FAULT_REASONS)
        if upload.kind == GOOD and faulted:
            fault_failures += 1
        elif str(job.status) not in EXPECTED[upload.kind] or (str(job.status) != "SUCCEEDED" and not reason):
            unexpected.append({"key": upload.key, "status": str(job.status), "reason": reason[:200]})
    return {
        "lost": lost,
        "duplicate_jobs": duplicates,
        "unexpected": unexpected,
        "fault_failures": fault_failures,
    }


def _run_seconds(uploads: list[Upload], jobs: dict[str, list[JobRecord]]) -> float:
    ended = [t for records in jobs.values() for j in records if (t := _terminal_at(j)) is not None]
    started = [u.uploaded_at for u in uploads if u.uploaded_at]
    return max(ended, default=0.0) - min(started) if ended and started else 0.0


def _latency(uploads: list[Upload], jobs: dict[str, list[JobRecord]]) -> dict[str, float]:
    seconds = []
    for upload in uploads:
        ended = [t for j in jobs.get(upload.source, []) if (t := _terminal_at(j)) is not None]
        if ended:
            seconds.append(max(0.0, min(ended) - upload.uploaded_at))
    return {
        "p50": percentile(seconds, 0.5),
        "p95": percentile(seconds, 0.95),
        "max": max(seconds, default=0.0),
    }


def _held(fault: dict[str, Any]) -> dict[str, int]:
    return {"running": int(fault.get("running", 0)), "queued": int(fault.get("queued", 0))}


def _fault_summary(
    faults: list[dict[str, Any]], stack: StackHandle, malformed_dropped: int
) -> dict[str, Any]:
    upload_queue, results_queue = stack.queue_url("upload-queue"), stack.queue_url("results-queue")
    duplicates = Counter(f.get("queue") for f in faults if f["fault"] == "duplicate")
    kills = [f for f in faults if f["fault"].startswith("kill-")]
    return {
        "worker_kills": sum(1 for f in kills if f["fault"] == "kill-worker"),
        "kills": [{"process": f["fault"].removeprefix("kill-"), **_held(f)} for f in kills],
        "duplicated_s3_notifications": duplicates.get(upload_queue, 0),
        "duplicated_sns_deliveries": duplicates.get(results_queue, 0),
        "malformed_sent": sum(1 for f in faults if f["fault"] == "malformed"),
        "malformed_dropped_with_error_log": malformed_dropped,
        "restarts": {name: p.get("restarts", 0) for name, p in stack.state().get("processes", {}).items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Soak the local stack with faults (see docs/local-stack.md)."
    )
    defaults = SoakOptions()
    parser.add_argument("--uploads", type=int, default=defaults.uploads)
    parser.add_argument("--worker-kills", type=int, default=defaults.worker_kills)
    parser.add_argument("--endpoint-kills", type=int, default=defaults.endpoint_kills)
    parser.add_argument("--duplicate-fraction", type=float, default=defaults.duplicate_fraction)
    parser.add_argument("--broken-every", type=int, default=defaults.broken_every)
    parser.add_argument("--malformed", type=int, default=defaults.malformed)
    parser.add_argument("--rate", type=float, default=defaults.rate, help="uploads per second (0: unpaced)")
    parser.add_argument("--timeout", type=float, default=defaults.timeout)
    parser.add_argument(
        "--state-dir", default=None, help="the soak stack's state directory (default: a temp dir)"
    )
    parser.add_argument("--cdk-out", default=defaults.cdk_out)
    parser.add_argument("--keep", action="store_true", help="leave the stack running afterwards")
    parser.add_argument("--json", dest="json_path", default=None, help="also write the report here")
    args = parser.parse_args(argv)
    json_path = args.__dict__.pop("json_path")
    options = SoakOptions(**{k: v for k, v in vars(args).items()})
    report = Soak(options).run()
    print(report.to_text())
    if json_path:
        Path(json_path).write_text(json.dumps(report.to_json(), indent=2))
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
