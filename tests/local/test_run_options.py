"""Deployment defaults on the local stack: started with fasterrcnn at 2 fps, an async job and a Processing
job each record fasterrcnn at 2 fps, and what the worker ran (its summary) says the same."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdas.common.settings import Settings
from lambdas.dispatch import submit
from reelsight import envvars
from reelsight.client import Client, Submission
from reelsight.params import RunOptions
from reelsight.testing.videos import write_video
from tests.local.test_e2e import Stack, running_stack, wait_terminal

pytestmark = pytest.mark.slow
CLIP_SECONDS = 1


@pytest.fixture(scope="module")
def stack(cdk_out: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state_dir = tmp_path_factory.mktemp("local-stack-defaults")
    yield from running_stack(state_dir, cdk_out, model="fasterrcnn", fps="2")


def _assert_recorded_defaults(job: dict[str, Any]) -> None:
    options = job["options"]
    assert (options["model"], options["sampling"]["fps"]) == ("fasterrcnn", 2.0), options
    assert options["weights"] == "random"


def _assert_ran(summary: dict[str, Any], job: dict[str, Any]) -> None:
    assert summary["model"]["name"] == "fasterrcnn"
    assert summary["frames_sampled"] == 2 * CLIP_SECONDS  # 2 fps really ran
    # The record states exactly what ran (both read through the one RunOptions type: the table keeps
    # no nulls and stores 2.0 as 2).
    assert RunOptions.from_dict(summary["params"]) == RunOptions.from_dict(job["options"])


def test_async_job_records_and_runs_the_deployment_defaults(stack: Stack, tmp_path: Path) -> None:
    clip = write_video(tmp_path / "a.mp4", seconds=CLIP_SECONDS, fps=10, width=160, height=120, gop=10)
    submission = stack.client.upload(clip.path, {})
    job = wait_terminal(stack.client, [submission], timeout=240)[submission.key]
    assert job["status"] == "SUCCEEDED", job
    _assert_recorded_defaults(job)
    stack.client.fetch(job["job_id"], tmp_path / "out")
    _assert_ran(json.loads((tmp_path / "out" / "summary.json").read_text()), job)


def _run_processing_job(request: dict[str, Any], video: Path, work: Path) -> dict[str, Any]:
    """`reelsight process` as SageMaker would start it: the job description in processingjobconfig.json."""
    (work / "input").mkdir(parents=True)
    (work / "input" / video.name).write_bytes(video.read_bytes())
    config = work / "processingjobconfig.json"
    config.write_text(json.dumps(request))
    env = {
        **os.environ,
        envvars.JOB_CONFIG: str(config),
        envvars.RESOURCE_CONFIG: str(work / "no-resourceconfig.json"),
    }
    command = [sys.executable, "-m", "reelsight", "process", "--input", str(work / "input"),
               "--output", str(work / "output"), "--message-file", str(work / "message")]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    (summary_path,) = (work / "output").rglob("summary.json")
    return dict(json.loads(summary_path.read_text()))


def _dispatcher_process_environment(stack: Stack) -> dict[str, str]:
    processes = stack.refresh()["processes"]
    (pid,) = [
        info["pid"] for name, info in processes.items() if name.startswith("lambda-") and "Dispatch" in name
    ]
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def _wait_submitted(client: Client, submission: Submission, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.find_job(submission)
        if job and job.submitted_at:
            return job.to_item()
        time.sleep(0.5)
    raise AssertionError(f"{submission.key} was not submitted within {timeout}s")


def test_processing_job_records_and_runs_the_deployment_defaults(stack: Stack, tmp_path: Path) -> None:
    clip = write_video(tmp_path / "b.mp4", seconds=CLIP_SECONDS, fps=10, width=160, height=120, gop=10)
    submission = stack.client.upload(clip.path, {"route": "processing"})
    job = _wait_submitted(stack.client, submission)
    _assert_recorded_defaults(job)
    assert job["route"] == "processing"
    # moto keeps no Environment of a Processing job, so rebuild the request the dispatcher sent with the
    # dispatcher's own code, from the environment its running process really has.
    request = submit.processing_request(
        Settings.from_env(_dispatcher_process_environment(stack)),
        job_id=job["job_id"],
        input_location=job["source"],
        overrides=job.get("params") or {},
    )
    assert request["ProcessingJobName"] == job["processing_job_name"]
    environment = request["Environment"]
    assert (environment[envvars.MODEL], environment[envvars.FPS]) == ("fasterrcnn", "2")
    _assert_ran(_run_processing_job(request, clip.path, tmp_path / "job"), job)
