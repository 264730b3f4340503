"""Seed 000's whole path on the local stack: a GluonCV DeepLab batch over three videos on two hosts of
the MXNet image (.venv-mxnet), posting progress to the local API with its token; the API and
``reelsight status`` show that progress while the job runs, and the coloured mask PNGs and the class
fractions end up in S3."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reelsight.contract.batch import BatchRequest, part_job_id
from reelsight.contract.names import FRAMES_FILE, output_prefix
from reelsight.testing.videos import write_video
from tests.local.test_e2e import Stack, running_stack

pytestmark = pytest.mark.slow
MODEL = "deeplab_resnet101_citys"
STEMS = ("north", "south", "west")


@pytest.fixture(scope="module")
def stack(cdk_out: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from running_stack(
        tmp_path_factory.mktemp("segmentation-stack"), cdk_out, model="ssdlite", fps="2", api=True
    )


def api_job(stack: Stack, job_id: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{stack.state['api_url']}/v1/jobs/{job_id}",
        headers={"Authorization": f"Bearer {stack.state['api_token']}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.load(response))


def cli_status(stack: Stack, job_id: str) -> str:
    command = [sys.executable, "-m", "reelsight", "status", job_id, "--target", "local",
               "--state-dir", str(stack.state_dir)]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False).stdout


def watch_progress(stack: Stack, batch_id: str, timeout: float) -> tuple[dict[str, Any], list[str]]:
    """Poll the API until the batch ends: its last detail, and what was seen once while a video was
    running with frames done (its progress, ``reelsight status`` of it, the batch's entry for it)."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = api_job(stack, batch_id)
        if batch["status"] in ("SUCCEEDED", "PARTIAL", "FAILED"):
            return batch, seen
        for index in range(len(STEMS)):
            video = api_job(stack, part_job_id(batch_id, index))
            progress = video.get("progress") or {}
            if not seen and video["status"] == "RUNNING" and (progress.get("frames_done") or 0) > 0:
                seen.append(json.dumps(progress))
                seen.append(cli_status(stack, part_job_id(batch_id, index)))
                parts = api_job(stack, batch_id).get("parts") or []
                seen.append(json.dumps([p for p in parts if p.get("job_id") == video["job_id"]]))
        time.sleep(0.3)
    raise AssertionError(f"batch {batch_id} did not end within {timeout}s")


def test_a_deeplab_batch_on_two_hosts_reports_progress_and_writes_masks(stack: Stack, tmp_path: Path) -> None:
    s3, names = stack.aws("s3"), stack.state["names"]
    for stem in STEMS:
        video = write_video(tmp_path / f"{stem}.mp4", seconds=8, fps=10, width=160, height=120, gop=10)
        s3.upload_file(str(video.path), names["input_bucket"], f"library/streets/{stem}.mp4")
    request = BatchRequest(prefix="library/streets/", instance_count=2, options={"model": MODEL, "fps": "2"})
    submission = stack.client.submit_batch(request)
    deadline = time.monotonic() + 60
    while (job := stack.client.find_job(submission)) is None and time.monotonic() < deadline:
        time.sleep(0.3)
    assert job is not None

    batch, seen = watch_progress(stack, job.job_id, timeout=600)

    assert batch["status"] == "SUCCEEDED", batch
    assert seen, "no video showed progress while it ran"
    progress, status_output, batch_part = seen
    [part] = json.loads(batch_part)  # the batch's own detail lists the video with its progress
    assert part["status"] in ("RUNNING", "SUCCEEDED") and part["progress"]["frames_done"] > 0, part
    assert json.loads(progress)["frames_total"] == 16, progress  # 8 s at 2 fps
    assert "RUNNING" in status_output and "frames" in status_output, status_output
    listed = s3.list_objects_v2(Bucket=names["results_bucket"], Prefix=output_prefix(job.job_id))
    keys = [item["Key"] for item in listed.get("Contents", [])]
    for stem in STEMS:
        masks = [
            k
            for k in keys
            if k.startswith(f"{output_prefix(job.job_id)}{stem}/masks/") and k.endswith(".png")
        ]
        assert len(masks) == 16, (stem, keys)
        body = s3.get_object(
            Bucket=names["results_bucket"], Key=f"{output_prefix(job.job_id)}{stem}/{FRAMES_FILE}"
        )
        lines = [json.loads(line) for line in body["Body"].read().splitlines()]
        assert len(lines) == 16
        fractions = lines[0]["semantic"]["fractions"]
        assert fractions and abs(sum(fractions.values()) - 1.0) < 1e-3, lines[0]
