"""Every job visible while it runs, on the local stack: QUEUED -> RUNNING with increasing progress ->
SUCCEEDED; and a worker killed midway leaves a PARTIAL job whose parts stay readable."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from reelsight import envvars
from reelsight.client import Submission
from reelsight.contract.names import parts_prefix
from reelsight.contract.progress import job_progress
from reelsight.testing.videos import write_video
from tests.local.test_e2e import Stack, running_stack

pytestmark = pytest.mark.slow
OPTIONS = {"fps": "2", "batch_size": "2"}
PART_FRAMES = 4


@pytest.fixture(scope="module")
def hold_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hold") / "hold"


@pytest.fixture(scope="module")
def stack(cdk_out: Path, tmp_path_factory: pytest.TempPathFactory, hold_file: Path) -> Iterator[Stack]:
    # The worker inherits these: small parts, and a hold file the tests pace the model with.
    env = {envvars.PART_FRAMES: str(PART_FRAMES), envvars.DEBUG_HOLD_FILE: str(hold_file)}
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield from running_stack(tmp_path_factory.mktemp("progress-stack"), cdk_out, model="ssdlite", fps="2")
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def paced(hold_file: Path, closed: float = 1.0, opened: float = 0.15) -> Iterator[None]:
    """Let the model run in short bursts, so a 30 s clip takes long enough to be watched."""
    stop = threading.Event()

    def pace() -> None:
        while not stop.is_set():
            hold_file.touch()
            stop.wait(closed)
            hold_file.unlink(missing_ok=True)
            stop.wait(opened)

    thread = threading.Thread(target=pace, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        hold_file.unlink(missing_ok=True)


def watch(
    stack: Stack, sub: Submission, timeout: float, until: str | None = None
) -> tuple[list[str], list[int]]:
    """Poll the job: (statuses seen in order, distinct frames_done seen in order) until it is terminal
    (or, with ``until``, until it has that many parts)."""
    statuses: list[str] = []
    frames: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = stack.client.find_job(sub)
        if job is not None and job.status is not None:
            if not statuses or statuses[-1] != job.status.value:
                statuses.append(job.status.value)
            progress = job_progress(job.progress)
            if progress is not None and (not frames or frames[-1] != progress.frames_done):
                frames.append(progress.frames_done)
            if until == "parts" and progress is not None and progress.parts >= 1:
                return statuses, frames
            if job.terminal:
                return statuses, frames
        time.sleep(0.25)
    raise AssertionError(f"job {sub.key} still {statuses[-1:]} after {timeout}s (frames {frames})")


def _status_watch(stack: Stack, sub: Submission) -> subprocess.Popen[str]:
    """``reelsight status JOB --watch`` as a user runs it, started as soon as the job exists."""
    deadline = time.monotonic() + 60
    while (job := stack.client.find_job(sub)) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job is not None, f"no job for {sub.key}"
    command = [sys.executable, "-m", "reelsight", "status", job.job_id, "--watch", "--interval", "0.5",
               "--timeout", "180", "--target", "local", "--state-dir", str(stack.state_dir)]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_running_job_shows_increasing_progress(stack: Stack, tmp_path: Path, hold_file: Path) -> None:
    clip = write_video(tmp_path / "thirty.mp4", seconds=30, fps=10, width=160, height=120, gop=10)
    with paced(hold_file):
        sub = stack.client.upload(clip.path, OPTIONS, key="incoming/progress/thirty.mp4")
        watcher = _status_watch(stack, sub)
        statuses, frames = watch(stack, sub, timeout=180)
        printed, _ = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, printed
    # Not a terminal: one plain line per change, with frames done/expected and an ETA while it ran.
    assert re.search(r"RUNNING \d+/60 frames \(\d+%\).* ETA \d+", printed), printed
    assert "status: SUCCEEDED" in printed, printed
    assert statuses[-1] == "SUCCEEDED", statuses
    assert "RUNNING" in statuses and statuses.index("RUNNING") < statuses.index("SUCCEEDED"), statuses
    assert statuses[0] in ("QUEUED", "RUNNING"), statuses
    assert len(frames) >= 3 and frames == sorted(frames), frames
    job = stack.client.find_job(sub)
    assert job is not None
    final = job_progress(job.progress)
    assert final is not None and final.frames_done == 60 and final.parts >= 60 // PART_FRAMES


def test_a_killed_worker_leaves_a_partial_job_with_its_parts(
    stack: Stack, tmp_path: Path, hold_file: Path
) -> None:
    clip = write_video(tmp_path / "killed.mp4", seconds=30, fps=10, width=160, height=120, gop=10)
    with paced(hold_file, closed=2.0):
        sub = stack.client.upload(clip.path, OPTIONS, key="incoming/progress/killed.mp4")
        watch(stack, sub, timeout=120, until="parts")
        os.kill(stack.refresh()["processes"]["worker"]["pid"], signal.SIGKILL)
    statuses, _ = watch(stack, sub, timeout=120)
    job = stack.client.find_job(sub)
    assert job is not None and job.status is not None
    assert job.status.value == "PARTIAL", (statuses, job.reason)
    assert job.reason and job.reason.startswith("stopped after ") and " of 60 frames: " in job.reason
    s3 = stack.aws("s3")
    bucket = stack.state["names"]["results_bucket"]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=parts_prefix(job.job_id)).get("Contents", [])
    assert listed, "no part is left"
    lines = b"".join(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed).splitlines()
    progress = job_progress(job.progress)
    # A part can land after the last progress write the kill allowed, never before it.
    assert progress is not None and len(listed) >= progress.parts >= 1 and len(lines) >= PART_FRAMES
