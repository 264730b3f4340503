"""The worker tests' batch and split jobs: ``reelsight.testing.processing_jobs`` with the tests'
fast model environment."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from reelsight.testing import processing_jobs as jobs
from reelsight.testing.processing_jobs import (
    INPUT_BUCKET,
    RESULTS_BUCKET,
    Host,
    dispatch,
    job_request,
    keys,
    read,
    summary_without_timings,
    wait_for_key,
)

from .conftest import child_env

__all__ = [
    "INPUT_BUCKET",
    "RESULTS_BUCKET",
    "Host",
    "dispatch",
    "job_request",
    "keys",
    "long_video_buckets",
    "read",
    "run_hosts",
    "start_hosts",
    "summary_without_timings",
    "wait_for_key",
]


def long_video_buckets(aws_env: Any, base: Path, name: str, key: str) -> Any:
    """A fresh input and results bucket, with a 60 s video (written once per session) at ``key``."""
    import boto3

    from reelsight.testing.videos import write_video

    aws_env.reset()
    client = boto3.client("s3")
    for bucket in (INPUT_BUCKET, RESULTS_BUCKET):
        client.create_bucket(Bucket=bucket)
    video = base / name
    if not video.exists():
        write_video(video, seconds=60, fps=10, width=128, height=96, gop=10)
    client.upload_file(str(video), INPUT_BUCKET, key)
    return client


def start_hosts(
    s3: Any,
    request: dict[str, Any],
    workdir: Path,
    count: int,
    before_start: Callable[[Path], None] | None = None,
    env: dict[str, str] | None = None,
) -> list[Host]:
    return jobs.start_hosts(s3, request, workdir, count, child_env(env or {}), before_start)


def run_hosts(
    s3: Any,
    request: dict[str, Any],
    workdir: Path,
    count: int,
    before_start: Callable[[Path], None] | None = None,
    env: dict[str, str] | None = None,
) -> list[Host]:
    return jobs.run_hosts(s3, request, workdir, count, child_env(env or {}), before_start)
