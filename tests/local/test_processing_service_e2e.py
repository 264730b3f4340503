"""Processing jobs on the whole local stack: upload -> dispatcher -> CreateProcessingJob on the control
plane -> hosts running ``reelsight process`` -> outputs in S3 -> state change on the results queue ->
results Lambda -> job records."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from reelsight.contract.batch import (
    MARKER_FILE,
    BatchRequest,
    PartMarker,
    attempt_job_name,
    merged_prefix,
    part_job_id,
)
from reelsight.contract.jobs import JobsTable
from reelsight.contract.names import job_prefix, output_prefix
from reelsight.testing.videos import write_not_a_video, write_video

from .test_e2e import Stack, running_stack, wait_terminal

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(cdk_out: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from running_stack(tmp_path_factory.mktemp("local-stack"), cdk_out, model="ssdlite", fps="1")


def results_keys(stack: Stack, prefix: str) -> list[str]:
    s3 = stack.aws("s3")
    bucket = stack.state["names"]["results_bucket"]
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]


def sagemaker(stack: Stack) -> Any:
    """SageMaker's API on the stack: the control plane."""
    return boto3.client(
        "sagemaker",
        endpoint_url=stack.state["control_plane_url"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def processing_jobs(stack: Stack) -> list[dict[str, Any]]:
    return list(sagemaker(stack).list_processing_jobs(NameContains="reelsight-")["ProcessingJobSummaries"])


def test_an_upload_routed_to_processing_runs_on_the_local_service(stack: Stack, tmp_path: Path) -> None:
    video = write_video(tmp_path / "long.mp4", seconds=2, fps=10, width=160, height=120, gop=10)
    submission = stack.client.upload(video.path, {"route": "processing", "fps": "1"})
    job = wait_terminal(stack.client, [submission], timeout=300)[submission.key]
    assert job["status"] == "SUCCEEDED", job
    keys = results_keys(stack, output_prefix(job["job_id"]))
    assert any(k.endswith("/frames.jsonl") for k in keys), keys
    described = sagemaker(stack).describe_processing_job(ProcessingJobName=job["processing_job_name"])
    assert described["ProcessingJobStatus"] == "Completed"


def test_a_batch_over_two_hosts(stack: Stack, tmp_path: Path) -> None:
    s3 = stack.aws("s3")
    bucket = stack.state["names"]["input_bucket"]
    for stem in ("east", "west"):
        video = write_video(tmp_path / f"{stem}.mp4", seconds=2, fps=10, width=160, height=120, gop=10)
        s3.upload_file(str(video.path), bucket, f"library/{stem}.mp4")
    request = BatchRequest(prefix="library/", instance_count=2, options={"fps": "1"})
    submission = stack.client.submit_batch(request)
    began = time.monotonic()
    job = wait_terminal(stack.client, [submission], timeout=400)[submission.key]
    assert job["status"] == "SUCCEEDED", (job, processing_jobs(stack), time.monotonic() - began)
    keys = results_keys(stack, output_prefix(job["job_id"]))
    assert sum(k.endswith("/_done.json") for k in keys) == 2, keys


def test_a_split_video_over_two_hosts_is_merged(stack: Stack, tmp_path: Path) -> None:
    s3 = stack.aws("s3")
    bucket = stack.state["names"]["input_bucket"]
    video = write_video(tmp_path / "longer.mp4", seconds=4, fps=10, width=160, height=120, gop=10)
    s3.upload_file(str(video.path), bucket, "library/split/longer.mp4")
    request = BatchRequest(
        videos=("library/split/longer.mp4",), split=True, instance_count=2, options={"fps": "1"}
    )
    submission = stack.client.submit_batch(request)
    job = wait_terminal(stack.client, [submission], timeout=400)[submission.key]
    assert job["status"] == "SUCCEEDED", (job, processing_jobs(stack))
    keys = results_keys(stack, job_prefix(job["job_id"]))
    assert sum(k.endswith("/_done.json") for k in keys) == 2, keys
    merged = s3.get_object(
        Bucket=stack.state["names"]["results_bucket"],
        Key=merged_prefix(job["job_id"], "longer") + "frames.jsonl",
    )["Body"].read()
    assert len(merged.decode().splitlines()) == 4  # one sample a second over 4 s, none lost or doubled


def test_five_videos_on_two_hosts_with_one_broken_end_partial(stack: Stack, tmp_path: Path) -> None:
    s3 = stack.aws("s3")
    names = stack.state["names"]
    stems = ("a", "b", "c", "d")
    for stem in stems:
        video = write_video(tmp_path / f"{stem}.mp4", seconds=2, fps=10, width=160, height=120, gop=10)
        s3.upload_file(str(video.path), names["input_bucket"], f"library/five/{stem}.mp4")
    broken = write_not_a_video(tmp_path / "e.mp4")
    s3.upload_file(str(broken), names["input_bucket"], "library/five/e.mp4")

    submission = stack.client.submit_batch(
        BatchRequest(prefix="library/five/", instance_count=2, options={"fps": "1"})
    )
    job = wait_terminal(stack.client, [submission], timeout=400)[submission.key]

    job_id = job["job_id"]
    assert job["status"] == "PARTIAL", job
    assert job["failed_parts"] == ["e"] and "e: " in job["reason"], job
    # Set from the Processing job's state-change event, which only the results Lambda reads.
    assert job["sagemaker_status"] == "Completed", job
    table = JobsTable(stack.aws("dynamodb"), names["jobs_table"])
    videos = {stem: table.get(part_job_id(job_id, i)) for i, stem in enumerate((*stems, "e"))}
    assert {stem: r.status.value for stem, r in videos.items() if r and r.status} == {
        **dict.fromkeys(stems, "SUCCEEDED"),
        "e": "FAILED",
    }
    assert videos["e"] is not None and videos["e"].reason, videos["e"]
    keys = results_keys(stack, output_prefix(job_id))
    for stem in stems:
        assert {f"{output_prefix(job_id)}{stem}/{name}" for name in ("frames.jsonl", "_done.json")} <= set(
            keys
        )
    assert f"{output_prefix(job_id)}e/error.json" in keys
    shares = [
        {v["video"] for v in json.loads(results_object(stack, key))["videos"]}
        for key in keys
        if key.rsplit("/", 1)[-1].startswith("manifest-algo-")
    ]
    assert len(shares) == 2 and not shares[0] & shares[1], shares  # disjoint ...
    assert shares[0] | shares[1] == {f"{stem}.mp4" for stem in (*stems, "e")}  # ... and complete


def results_object(stack: Stack, key: str) -> bytes:
    s3 = stack.aws("s3")
    return bytes(s3.get_object(Bucket=stack.state["names"]["results_bucket"], Key=key)["Body"].read())


def host_pids(stack: Stack, processing_job_name: str) -> list[int]:
    """The running hosts of a job, as the local Processing service records them."""
    pids = Path(stack.state_dir) / "processing" / "runs" / processing_job_name / "hosts.pids"
    deadline = time.monotonic() + 60
    while not pids.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    return [int(pid) for pid in json.loads(pids.read_text())]


def wait_for_marker(stack: Stack, job_id: str, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [k for k in results_keys(stack, job_prefix(job_id)) if k.endswith("/" + MARKER_FILE)]
        if done:
            return done[0]
        time.sleep(0.2)
    raise AssertionError(f"no part of {job_id} finished within {timeout}s")


def wait_attempt(stack: Stack, job_id: str, attempt: int, timeout: float = 400) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = stack.client.get_job(job_id)
        if job is not None and job.terminal and job.to_item().get("attempt") == attempt:
            return job.to_item()
        time.sleep(1.0)
    raise AssertionError(f"attempt {attempt} of {job_id} did not end within {timeout}s")


def test_killed_hosts_leave_a_partial_batch_that_resumes_only_what_is_missing(
    stack: Stack, tmp_path: Path
) -> None:
    s3, names = stack.aws("s3"), stack.state["names"]
    stems = ("p", "q", "r", "s")
    for stem in stems:
        video = write_video(tmp_path / f"{stem}.mp4", seconds=6, fps=10, width=160, height=120, gop=10)
        s3.upload_file(str(video.path), names["input_bucket"], f"library/resume/{stem}.mp4")
    submission = stack.client.submit_batch(
        BatchRequest(prefix="library/resume/", instance_count=2, options={"fps": "2"})
    )
    deadline = time.monotonic() + 60
    while (started := stack.client.find_job(submission)) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert started is not None
    job_id = started.job_id
    pids = host_pids(stack, attempt_job_name(job_id, 1))
    first = wait_for_marker(stack, job_id)
    for pid in pids:  # the hosts die mid-batch, as an instance lost to a hardware fault would
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    job = wait_attempt(stack, job_id, 1)
    assert job["status"] == "PARTIAL", job
    assert job["failed_parts"] and "AlgorithmError" in job["reason"], job
    finished_first = {k for k in results_keys(stack, output_prefix(job_id)) if k.endswith("/" + MARKER_FILE)}
    assert first in finished_first and len(finished_first) < len(stems)

    stack.client.resume_batch(job_id)
    resumed = wait_attempt(stack, job_id, 2)

    assert resumed["status"] == "SUCCEEDED", resumed
    markers = {
        k: PartMarker.from_json(results_object(stack, k))
        for k in results_keys(stack, output_prefix(job_id))
        if k.endswith("/" + MARKER_FILE)
    }
    assert len(markers) == len(stems)
    # What had finished stays as attempt 1 wrote it; only the rest ran again.
    assert {k for k, m in markers.items() if m.attempt == 1} == finished_first
    assert all(m.attempt == 2 for k, m in markers.items() if k not in finished_first)
