"""Deployment defaults on the local stack: started with fasterrcnn at 2 fps, an async job and a Processing
job each record fasterrcnn at 2 fps, and what the worker ran (its summary) says the same."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reelsight import envvars
from reelsight.contract.names import SUMMARY_FILE, output_prefix
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


def _processing_summary(stack: Stack, job_id: str) -> dict[str, Any]:
    """The summary.json the job's host wrote, from the results bucket."""
    s3, bucket = stack.aws("s3"), stack.state["names"]["results_bucket"]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=output_prefix(job_id)).get("Contents", [])
    (key,) = [item["Key"] for item in listed if item["Key"].endswith("/" + SUMMARY_FILE)]
    return dict(json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))


def test_processing_job_records_and_runs_the_deployment_defaults(stack: Stack, tmp_path: Path) -> None:
    clip = write_video(tmp_path / "b.mp4", seconds=CLIP_SECONDS, fps=10, width=160, height=120, gop=10)
    submission = stack.client.upload(clip.path, {"route": "processing"})
    job = wait_terminal(stack.client, [submission], timeout=300)[submission.key]
    assert job["status"] == "SUCCEEDED", job
    _assert_recorded_defaults(job)
    assert job["route"] == "processing"
    # The request the dispatcher really sent, as the local Processing service keeps it.
    described = stack.aws("sagemaker").describe_processing_job(ProcessingJobName=job["processing_job_name"])
    environment = described["Environment"]
    assert (environment[envvars.MODEL], environment[envvars.FPS]) == ("fasterrcnn", "2")
    _assert_ran(_processing_summary(stack, job["job_id"]), job)
