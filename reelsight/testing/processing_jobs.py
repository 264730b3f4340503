"""Batch and split Processing jobs as SageMaker runs them, for the worker's tests and the bench.

The caller plays the dispatcher (plan and manifest in the results bucket, the CreateProcessingJob
request) and SageMaker (per host: ``resourceconfig.json``, ``processingjobconfig.json``, the plan
and the host's share of the videos under its own /opt/ml folder), then runs ``reelsight process``
as one real process per host. The worker writes every result to S3 itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelsight import envvars
from reelsight.contract.batch import (
    JobPlan,
    Part,
    manifest_document,
    manifest_key,
    plan_key,
)
from reelsight.contract.processing import (
    PROCESSING_INPUT_DIR,
    PROCESSING_OUTPUT_DIR,
    ProcessingJobDefinition,
    create_batch_job_request,
)
from reelsight.local.processing_inputs import download, host_path, host_share, input_objects

RESULTS_BUCKET = "results"
INPUT_BUCKET = "input"
DEFINITION = ProcessingJobDefinition(
    role_arn="arn:aws:iam::000000000000:role/processing",
    image_uri="000000000000.dkr.ecr.us-east-1.amazonaws.com/reelsight-worker:test",
    instance_type="ml.m5.xlarge",
    results_bucket=RESULTS_BUCKET,
)


def job_request(plan: JobPlan, *, attempt: int = 1) -> dict[str, Any]:
    """The CreateProcessingJob request of one attempt of ``plan``, as the dispatcher builds it."""
    return create_batch_job_request(
        DEFINITION,
        plan=plan,
        attempt=attempt,
        environment={},
    )


def dispatch(
    s3: Any, plan: JobPlan, *, attempt: int = 1, parts: Sequence[Part] | None = None
) -> dict[str, Any]:
    """What the dispatcher writes before it starts an attempt: the plan, the manifest; the request."""
    s3.put_object(Bucket=RESULTS_BUCKET, Key=plan_key(plan.job_id), Body=plan.to_json().encode())
    s3.put_object(
        Bucket=RESULTS_BUCKET,
        Key=manifest_key(plan.job_id, attempt),
        Body=manifest_document(plan, parts).encode(),
    )
    return job_request(plan, attempt=attempt)


@dataclass
class Host:
    name: str
    root: Path  # this host's /opt/ml
    proc: subprocess.Popen[str]
    log_path: Path

    @property
    def input_dir(self) -> Path:
        return host_path(self.root, PROCESSING_INPUT_DIR)

    @property
    def output_dir(self) -> Path:
        return host_path(self.root, PROCESSING_OUTPUT_DIR)

    @property
    def message(self) -> str:
        path = self.root / "output" / "message"
        return path.read_text() if path.exists() else ""

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait(self, timeout: float = 600) -> int:
        return self.proc.wait(timeout=timeout)


def prepare_host(s3: Any, request: dict[str, Any], root: Path, host: str, hosts: list[str]) -> None:
    """What SageMaker puts in one host's container before it starts: the config files and inputs."""
    config = root / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "resourceconfig.json").write_text(json.dumps({"current_host": host, "hosts": hosts}))
    arn = f"arn:aws:sagemaker:us-east-1:000000000000:processing-job/{request['ProcessingJobName']}"
    described = {**request, "ProcessingJobArn": arn}
    (config / "processingjobconfig.json").write_text(json.dumps(described))
    index = sorted(hosts).index(host)
    for item in request["ProcessingInputs"]:
        s3_input = item["S3Input"]
        objects = input_objects(s3, s3_input)
        share = host_share(objects, s3_input["S3DataDistributionType"], index, len(hosts))
        download(s3, share, host_path(root, s3_input["LocalPath"]))


def start_hosts(
    s3: Any,
    request: dict[str, Any],
    workdir: Path,
    count: int,
    environ: Mapping[str, str],
    before_start: Callable[[Path], None] | None = None,
    *,
    module: str = "reelsight",
) -> list[Host]:
    """Prepare ``count`` hosts (``before_start(root)`` may change one's files), then start
    ``python -m <module> process`` (``reelsight process``) on all of them at once."""
    names = [f"algo-{i + 1}" for i in range(count)]
    roots = {name: workdir / request["ProcessingJobName"] / name for name in names}
    for name in names:
        prepare_host(s3, request, roots[name], name, names)
        if before_start is not None:
            before_start(roots[name])
    hosts = []
    for name in names:
        log_path = roots[name] / "process.log"
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", module, "process"],
                env={**environ, envvars.OPT_ML_ROOT: str(roots[name])},
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )
        hosts.append(Host(name, roots[name], proc, log_path))
    return hosts


def run_hosts(
    s3: Any,
    request: dict[str, Any],
    workdir: Path,
    count: int,
    environ: Mapping[str, str],
    before_start: Callable[[Path], None] | None = None,
    *,
    module: str = "reelsight",
) -> list[Host]:
    hosts = start_hosts(s3, request, workdir, count, environ, before_start, module=module)
    for host in hosts:
        host.wait()
    return hosts


def read(s3: Any, key: str) -> bytes:
    body: bytes = s3.get_object(Bucket=RESULTS_BUCKET, Key=key)["Body"].read()
    return body


def keys(s3: Any, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=RESULTS_BUCKET, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents") or [])


def wait_for_key(s3: Any, key: str, hosts: list[Host], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if key in keys(s3, key):
            return
        if all(host.proc.poll() is not None for host in hosts):
            raise AssertionError(f"every host exited before {key} appeared:\n{hosts[-1].log()[-3000:]}")
        time.sleep(0.05)
    raise AssertionError(f"{key} did not appear in {timeout} s")


def summary_without_timings(data: bytes) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(data)
    summary.pop("timings")
    summary.pop("receipt")
    return summary
