"""Real AWS clients against the local stack, with nothing changed but the environment that
``eval "$(reelsight local env)"`` sets: the AWS CLI v1, the SageMaker Python SDK v2 and v3 (each from
its own locked environment, run as subprocesses), and boto3's ``endpoint_in_service`` waiter."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from reelsight.contract.jobids import job_id_for
from reelsight.contract.jobs import JobRecord
from reelsight.contract.names import split_s3_uri
from reelsight.testing.videos import write_not_a_video, write_video
from tests.local.test_e2e import Stack, running_stack

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CLIENTS = REPO / ".venv-clients" / "bin"
CLIENTS_V3 = REPO / ".venv-clients-v3" / "bin"
SCRIPTS = Path(__file__).with_name("clients")
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "REJECTED"})
JOB_TIMEOUT = 240.0


@pytest.fixture(scope="module")
def stack(cdk_out: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    for venv in (CLIENTS, CLIENTS_V3):
        if not (venv / "python").exists():
            pytest.fail(
                f"{venv.parent} is missing: run `make {venv.parent.name}/.installed` (part of make test)"
            )
    yield from running_stack(tmp_path_factory.mktemp("clients-stack"), cdk_out, model="ssdlite", fps="1")


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("videos")
    return write_video(folder / "clip.mp4", seconds=1.0, fps=10, width=160, height=120).path


@pytest.fixture(scope="module")
def not_a_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_not_a_video(tmp_path_factory.mktemp("bad") / "notes.mp4")


def run_client(
    stack: Stack, *argv: str | Path, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``argv`` in a shell that ran the one documented step, ``eval "$(reelsight local env)"``, from an
    environment with no AWS or SageMaker settings of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SAGEMAKER_"))}
    env.update(extra_env or {})
    state_dir = shlex.quote(str(stack.state_dir))
    env_command = f"{shlex.quote(sys.executable)} -m reelsight local env --state-dir {state_dir}"
    command = " ".join(shlex.quote(str(a)) for a in argv)
    # The assignment fails when `local env` does, where a bare eval of nothing would not.
    script = f'exports="$({env_command})" && eval "$exports" && exec {command}'
    return subprocess.run(
        ["bash", "-c", script], env=env, cwd=REPO, capture_output=True, text=True, timeout=600, check=False
    )


def aws(stack: Stack, *args: str, extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    done = run_client(stack, CLIENTS / "aws", *args, extra_env=extra_env)
    assert done.returncode == 0, done.stderr
    text = done.stdout.strip()
    return json.loads(text) if text.startswith("{") else {"output": text}  # `s3 cp` prints a line


def wait_job(stack: Stack, job_id: str, timeout: float = JOB_TIMEOUT) -> JobRecord:
    deadline = time.monotonic() + timeout
    job = None
    while time.monotonic() < deadline:
        job = stack.client.get_job(job_id)
        if job is not None and job.status_text in TERMINAL:
            return job
        time.sleep(1.0)
    raise AssertionError(f"job {job_id} not terminal after {timeout}s: {job and job.status_text}")


def versions(stack: Stack, bucket: str, key: str) -> list[str]:
    """The object's version ids, oldest first."""
    listing = stack.aws("s3").list_object_versions(Bucket=bucket, Prefix=key)
    found = [v for v in listing.get("Versions", []) if v["Key"] == key]
    return [v["VersionId"] for v in sorted(found, key=lambda v: v["LastModified"])]


def upload_key(stack: Stack, name: str) -> str:
    return f"{stack.state['names']['upload_prefix']}clients/{uuid.uuid4().hex[:8]}/{name}"


def test_env_points_every_default_service_at_the_stack(stack: Stack) -> None:
    identity = aws(stack, "sts", "get-caller-identity")
    assert identity["Account"] == "123456789012"  # moto's, so STS went nowhere else
    endpoint = aws(stack, "sagemaker", "describe-endpoint", "--endpoint-name", stack.state["endpoint_name"])
    assert endpoint["EndpointStatus"] == "InService"
    aws(stack, "sagemaker", "wait", "endpoint-in-service", "--endpoint-name", stack.state["endpoint_name"])


def test_boto3_waiter_endpoint_in_service(stack: Stack) -> None:
    env = stack.state["client_env"]  # what `local env` exports, given to boto3 in this process
    client = boto3.client(
        "sagemaker",
        endpoint_url=env["AWS_ENDPOINT_URL_SAGEMAKER"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    client.get_waiter("endpoint_in_service").wait(
        EndpointName=stack.state["endpoint_name"], WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )


def test_s3_cp_single_part_and_multipart_are_one_job_each(stack: Stack, video: Path, tmp_path: Path) -> None:
    bucket = stack.state["names"]["input_bucket"]
    single, multi = upload_key(stack, "single.mp4"), upload_key(stack, "multi.mp4")
    aws(stack, "s3", "cp", str(video), f"s3://{bucket}/{single}", "--metadata", "fps=2")
    config = tmp_path / "aws-config"  # the CLI's own setting, so that a tiny file goes up in parts
    config.write_text("[default]\ns3 =\n  multipart_threshold = 1KB\n  multipart_chunksize = 5MB\n")
    aws(stack, "s3", "cp", str(video), f"s3://{bucket}/{multi}", extra_env={"AWS_CONFIG_FILE": str(config)})

    for key in (single, multi):
        [version] = versions(stack, bucket, key)
        job = wait_job(stack, job_id_for(bucket, key, f"v:{version}"))
        assert job.status_text == "SUCCEEDED", job.reason
        assert job.version_id == version
    assert stack.client.get_job(
        job_id_for(bucket, single, f"v:{versions(stack, bucket, single)[0]}")
    ).params == {  # type: ignore[union-attr]
        "fps": "2"
    }
    head = stack.aws("s3").head_object(Bucket=bucket, Key=multi)
    assert head["ETag"].strip('"').endswith("-1")  # it did go up as a multipart upload


def test_the_same_file_uploaded_twice_is_two_jobs(stack: Stack, video: Path) -> None:
    bucket = stack.state["names"]["input_bucket"]
    key = upload_key(stack, "twice.mp4")
    for _ in range(2):
        aws(stack, "s3", "cp", str(video), f"s3://{bucket}/{key}")

    first, second = versions(stack, bucket, key)
    jobs = [wait_job(stack, job_id_for(bucket, key, f"v:{v}")) for v in (first, second)]

    assert [j.status_text for j in jobs] == ["SUCCEEDED", "SUCCEEDED"]
    assert jobs[0].job_id != jobs[1].job_id
    assert [j.version_id for j in jobs] == [first, second]
    assert jobs[0].etag == jobs[1].etag


def test_invoke_endpoint_async_with_options_answers_as_aws_and_writes_the_output(
    stack: Stack, video: Path
) -> None:
    bucket = stack.state["names"]["input_bucket"]
    source = f"s3://{bucket}/direct/{uuid.uuid4().hex[:8]}/clip.mp4"
    stack.aws("s3").upload_file(str(video), *split_s3_uri(source))
    inference_id = uuid.uuid4().hex
    answer = aws(
        stack,
        "sagemaker-runtime",
        "invoke-endpoint-async",
        "--endpoint-name",
        stack.state["endpoint_name"],
        "--input-location",
        source,
        "--content-type",
        "video/mp4",
        "--accept",
        "application/json",
        "--custom-attributes",
        "fps=2",
        "--inference-id",
        inference_id,
        "--request-ttl-seconds",
        "600",
        "--invocation-timeout-seconds",
        "300",
    )

    assert set(answer) == {"InferenceId", "OutputLocation", "FailureLocation"}
    assert answer["InferenceId"] == inference_id
    job = wait_job(stack, inference_id)
    assert job.status_text == "SUCCEEDED", job.reason
    summary = json.loads(stack.aws("s3").get_object(**_bucket_key(answer["OutputLocation"]))["Body"].read())
    assert summary["video"]["uri"] == source
    assert summary["params"]["sampling"]["fps"] == 2.0  # the custom attributes reached the worker
    assert (job.source, job.video) == (source, "clip.mp4")


def test_a_synchronous_invoke_gets_the_error_of_an_async_endpoint(stack: Stack, tmp_path: Path) -> None:
    done = run_client(
        stack,
        CLIENTS / "aws",
        "sagemaker-runtime",
        "invoke-endpoint",
        "--endpoint-name",
        stack.state["endpoint_name"],
        "--body",
        "fileb:///dev/null",
        str(tmp_path / "out.json"),
    )
    assert done.returncode != 0
    assert "(ValidationError) when calling the InvokeEndpoint operation" in done.stderr
    assert "InvokeEndpointAsync" in done.stderr


def test_sdk_v2_notebook_runs_unchanged(stack: Stack, video: Path, not_a_video: Path) -> None:
    bucket = stack.state["names"]["input_bucket"]
    s3_video = f"s3://{bucket}/direct/{uuid.uuid4().hex[:8]}/v2.mp4"
    stack.aws("s3").upload_file(str(video), *split_s3_uri(s3_video))

    done = run_client(
        stack,
        CLIENTS / "python",
        SCRIPTS / "sdk_v2_notebook.py",
        stack.state["endpoint_name"],
        video,
        s3_video,
        not_a_video,
    )

    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["context"]["type"] == "Endpoint"
    assert report["context"]["source"].endswith(f":endpoint/{stack.state['endpoint_name'].lower()}")
    assert report["input_path"]["summary"]["video"]["uri"] == s3_video
    uploaded = report["data"]["summary"]["video"]["uri"]
    assert uploaded.startswith("s3://sagemaker-us-east-1-123456789012/async-endpoint-inputs/")
    for run in (report["data"], report["input_path"]):
        assert run["summary"]["status"] == "ok"
        assert run["summary"]["frames_sampled"] >= 1
    assert report["failure"]["type"] == "AsyncInferenceModelError"
    assert report["failure"]["path"].startswith("s3://")


def test_sdk_v3_notebook_runs_unchanged(stack: Stack, video: Path, not_a_video: Path) -> None:
    bucket = stack.state["names"]["input_bucket"]
    prefix = f"s3://{bucket}/direct/{uuid.uuid4().hex[:8]}"
    s3_video, s3_bad = f"{prefix}/v3.mp4", f"{prefix}/notes.mp4"
    stack.aws("s3").upload_file(str(video), *split_s3_uri(s3_video))
    stack.aws("s3").upload_file(str(not_a_video), *split_s3_uri(s3_bad))

    done = run_client(
        stack,
        CLIENTS_V3 / "python",
        SCRIPTS / "sdk_v3_notebook.py",
        stack.state["endpoint_name"],
        s3_video,
        s3_bad,
    )

    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["status"] == "InService"
    assert report["output_path"].startswith("s3://")
    assert report["summary"]["video"]["uri"] == s3_video
    assert report["summary"]["status"] == "ok"
    assert report["failure"]["body"]  # the model's error, at the FailureLocation the SDK was given
    job = wait_job(stack, report["invocation"]["inference_id"])
    assert (job.status_text, job.source) == ("SUCCEEDED", s3_video)


def _bucket_key(uri: str) -> dict[str, str]:
    bucket, key = split_s3_uri(uri)
    return {"Bucket": bucket, "Key": key}
