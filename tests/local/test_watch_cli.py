"""`reelsight status JOB --watch` and `reelsight submit --wait` while a job runs: the progress lines,
the JSON lines and the terminal bar, fed by real job records (the dispatcher, the results Lambda and
the contract's JobsTable.record_progress on the moto server), one stack step per poll."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import reelsight.cli.submit as submit_cli
from reelsight.cli import main
from reelsight.cli.watch import JobWatcher
from reelsight.client import Client, StackTarget, Submission
from reelsight.contract.jobs import JobRecord, JobStatus
from reelsight.contract.progress import Stage, VideoProgress
from reelsight.testing.moto_server import FAKE_CREDENTIALS, MotoServer
from tests.api.support import ApiResources
from tests.contract.job_chain import JobChain

TOTAL = 60
Step = Callable[["ScriptedClient"], None]


class ScriptedClient(Client):
    """A client whose stack moves one step after every poll of ``wait`` (after it was rendered)."""

    def __init__(self, target: StackTarget, chain: JobChain, steps: list[Step]) -> None:
        super().__init__(target)
        self.chain = chain
        self.steps = list(steps)
        self.key: str | None = None
        self.job_id: str | None = None
        self.seen: list[JobRecord] = []

    def upload(self, path: str | Path, options: Any = None, **kwargs: Any) -> Submission:
        submission = super().upload(path, options, **kwargs)
        self.key = submission.key
        return submission

    def wait(self, submission: Any, **kwargs: Any) -> JobRecord:
        render = kwargs.pop("on_poll")

        def on_poll(status: str, job: JobRecord | None) -> None:
            render(status, job)
            if job is not None:
                self.seen.append(job)
            if self.steps and not (job and job.terminal):
                self.steps.pop(0)(self)

        return super().wait(submission, on_poll=on_poll, **kwargs)

    def record(self) -> JobRecord:
        assert self.job_id
        return self.chain.job(self.job_id)


def dispatch(client: ScriptedClient) -> None:
    assert client.key
    client.job_id = client.chain.dispatch(client.key).job_id


def start(client: ScriptedClient) -> None:
    client.chain.processing_started(client.record())


def progress(stage: Stage, done: int, fps: float | None = None, eta: float | None = None) -> Step:
    def report(client: ScriptedClient) -> None:
        entry = VideoProgress(
            stage=stage,
            frames_done=done,
            frames_total=TOTAL,
            decode_fps=fps and fps * 2,
            inference_fps=fps,
            eta_seconds=eta,
            parts=done // 12,
        )
        assert client.job_id
        client.chain.table.record_progress(client.job_id, "drive.mp4", done, TOTAL, entry=entry.to_json())

    return report


def complete(client: ScriptedClient) -> None:
    client.chain.processing_state(client.record(), "Completed")


def partial(client: ScriptedClient) -> None:
    assert client.job_id
    client.chain.table.transition(client.job_id, JobStatus.PARTIAL, reason="worker lost at frame 36")


RUN = [start, progress("loading", 0), progress("running", 12, 3.1, 15.4), progress("running", 36, 3.0, 8.0)]


@pytest.fixture()
def stack(aws_env: MotoServer) -> tuple[StackTarget, JobChain]:
    suffix = uuid.uuid4().hex[:8]
    resources = ApiResources(
        table=f"watch-jobs-{suffix}",
        results_bucket=f"watch-out-{suffix}",
        input_bucket=f"watch-in-{suffix}",
        dynamodb=None,
        s3=None,
    )
    chain = JobChain.on_moto(
        aws_env.url,
        jobs_table=resources.table,
        input_bucket=resources.input_bucket,
        results_bucket=resources.results_bucket,
    )
    resources.dynamodb, resources.s3 = chain.dynamodb, chain.s3
    resources.ensure()
    target = StackTarget(
        kind="local",
        input_bucket=resources.input_bucket,
        results_bucket=resources.results_bucket,
        jobs_table=resources.table,
        endpoints={service: aws_env.url for service in ("s3", "dynamodb")},
        credentials=dict(FAKE_CREDENTIALS),
        region="us-east-1",
    )
    return target, chain


def scripted(
    monkeypatch: pytest.MonkeyPatch, stack: tuple[StackTarget, JobChain], steps: list[Step]
) -> ScriptedClient:
    client = ScriptedClient(*stack, steps)
    monkeypatch.setattr(submit_cli, "_client", lambda args: client)
    return client


def queued_job(client: ScriptedClient) -> str:
    client.job_id = client.chain.upload(
        f"incoming/{uuid.uuid4().hex[:6]}/drive.mp4", route="processing"
    ).job_id
    return client.job_id


def test_watch_prints_one_plain_line_per_change(
    monkeypatch: pytest.MonkeyPatch, stack: tuple[StackTarget, JobChain], capsys: pytest.CaptureFixture[str]
) -> None:
    client = scripted(monkeypatch, stack, [*RUN, complete])
    job_id = queued_job(client)
    code = main(["status", job_id, "--watch", "--interval", "0", "--timeout", "30"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    follow = lines[: lines.index("  status: SUCCEEDED") + 1]
    assert follow == [
        "  status: QUEUED",
        "  status: RUNNING",
        f"  RUNNING [loading] 0/{TOTAL} frames (0%)",
        f"  RUNNING 12/{TOTAL} frames (20%) 3.1 frames/s ETA 15 s",
        f"  RUNNING 36/{TOTAL} frames (60%) 3.0 frames/s ETA 8 s",
        "  status: SUCCEEDED",
    ]
    assert f"job_id           {job_id}" in lines


def test_watch_json_is_one_valid_object_per_line(
    monkeypatch: pytest.MonkeyPatch, stack: tuple[StackTarget, JobChain], capsys: pytest.CaptureFixture[str]
) -> None:
    client = scripted(monkeypatch, stack, [*RUN, partial])
    job_id = queued_job(client)
    code = main(["status", job_id, "--watch", "--json", "--interval", "0"])
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1  # PARTIAL is not a success
    assert [e["status"] for e in events] == ["QUEUED", "RUNNING", "RUNNING", "RUNNING", "RUNNING", "PARTIAL"]
    running = events[3]["progress"]
    assert (running["frames_done"], running["frames_total"], running["percent"]) == (12, TOTAL, 20.0)
    assert (running["inference_fps"], running["eta_seconds"], running["stage"]) == (3.1, 15.4, "running")
    assert events[-1]["reason"] == "worker lost at frame 36"
    assert events[-1]["job"]["job_id"] == job_id and "job" not in events[-2]


def test_submit_wait_follows_the_upload_to_the_end(
    monkeypatch: pytest.MonkeyPatch,
    stack: tuple[StackTarget, JobChain],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    video = tmp_path / "drive.mp4"
    video.write_bytes(b"\x00" * 64)
    scripted(monkeypatch, stack, [dispatch, *RUN, partial])
    code = main(["submit", str(video), "--route", "processing", "--wait", "--interval", "0", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 1
    for line in (
        "  status: UPLOADED",
        "  status: QUEUED",
        f"  RUNNING 12/{TOTAL} frames (20%) 3.1 frames/s ETA 15 s",
        "  status: PARTIAL - worker lost at frame 36",
        "reason: worker lost at frame 36",
    ):
        assert line in out.splitlines(), out


def test_terminal_bar_shows_frames_percent_rate_and_eta(
    monkeypatch: pytest.MonkeyPatch, stack: tuple[StackTarget, JobChain], capsys: pytest.CaptureFixture[str]
) -> None:
    client = scripted(monkeypatch, stack, [*RUN, complete])
    main(["status", queued_job(client), "--watch", "--interval", "0"])
    capsys.readouterr()
    screen = io.StringIO()
    watcher = JobWatcher("bar", screen)
    for record in client.seen:
        watcher.update(record.status_text or "", record)
    watcher.close()
    drawn = screen.getvalue()
    assert "\r" in drawn  # redrawn in place
    assert f"12/{TOTAL} frames (20%)" in drawn and "3.1 frames/s ETA 15 s" in drawn
    assert drawn.index("status: RUNNING") < drawn.index("status: SUCCEEDED")


def test_stages_passed_between_two_polls_are_still_shown() -> None:
    """A short job can go from QUEUED to SUCCEEDED within one poll: its history fills the gap."""
    from reelsight.cli.watch import JobWatcher
    from reelsight.contract.jobs import JobRecord, JobStatus, history_entry

    passed = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.SUCCEEDED)
    history = [history_entry(status, f"2026-12-01T00:00:0{i}.000Z") for i, status in enumerate(passed)]
    done = JobRecord(job_id="j", status=JobStatus.SUCCEEDED, status_history=history)
    out = io.StringIO()
    watcher = JobWatcher("text", out)
    watcher.update("UPLOADED", None)
    watcher.update("SUCCEEDED", done)
    watcher.update("SUCCEEDED", done)  # nothing new: nothing printed
    assert out.getvalue().splitlines() == [
        "  status: UPLOADED",
        "  status: QUEUED",
        "  status: RUNNING",
        "  status: SUCCEEDED",
    ]
