"""The local Processing service as the local stack runs it: inside the control plane's process, with
the configuration the supervisor writes from the synthesized templates."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from lambdas.results.messages import ResultEvent, parse_body
from reelsight.contract.processing import ProcessingJobDefinition
from reelsight.local.control_plane import write_config
from reelsight.local.processing_service import RESTARTED
from reelsight.local.provision import provision
from reelsight.local.supervisor import (
    MXNET_COMMAND,
    LocalAddresses,
    LocalOptions,
    Supervisor,
    processing_images,
)
from reelsight.local.template import QueuePlan, StackPlan, build_plan, template_paths
from reelsight.testing.moto_server import FAKE_CREDENTIALS, MotoServer, free_port

HOST_SCRIPT = """
import os, pathlib, sys, time
out = pathlib.Path(os.environ["REELSIGHT_OPT_ML_ROOT"]) / "processing/output"
out.mkdir(parents=True, exist_ok=True)
(out / "token.txt").write_text(os.environ.get("REELSIGHT_API_TOKEN", ""))
time.sleep(float(sys.argv[1]))
"""


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="module")
def plan(cdk_out: Path, moto: MotoServer) -> StackPlan:
    """The templates' resources, created on this module's moto server."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in moto.client_env().items():
            patch.setenv(key, value)
        stack = build_plan(template_paths(cdk_out), sqs_base_url=moto.url)
        provision(stack)
    return stack


def definition(plan: StackPlan) -> ProcessingJobDefinition:
    for fn in plan.functions:
        if "REELSIGHT_PROCESSING_JOB_DEFINITION" in fn.environment:
            return ProcessingJobDefinition.from_json(fn.environment["REELSIGHT_PROCESSING_JOB_DEFINITION"])
    raise AssertionError("no function carries the Processing job definition")


def results_queue(plan: StackPlan) -> QueuePlan:
    """The queue the results Lambda reads."""
    results = next(fn.name for fn in plan.functions if fn.handler.startswith("lambdas.results"))
    url = next(source.queue_url for source in plan.event_sources if source.function == results)
    return next(queue for queue in plan.queues if queue.url == url)


class PlaneProcess:
    def __init__(self, config: Path, port: int, log: Path, token: str) -> None:
        self.config, self.port, self.log, self.token = config, port, log, token
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "reelsight.local.control_plane", "--config", str(self.config)]
                + ["--port", str(self.port)],
                stdout=logf,
                stderr=subprocess.STDOUT,
            )
        client = self.client()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                client.list_processing_jobs()
                return
            except Exception:
                time.sleep(0.2)
        raise AssertionError(f"the control plane did not answer; see {self.log}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)

    def client(self) -> Any:
        return boto3.client(
            "sagemaker",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@pytest.fixture()
def plane(plan: StackPlan, cdk_out: Path, moto: MotoServer, tmp_path: Path) -> Iterator[PlaneProcess]:
    addresses = LocalAddresses(
        moto.port,
        worker_port=free_port(),
        endpoint_port=free_port(),
        api_port=free_port(),
        control_plane_port=free_port(),
    )
    supervisor = Supervisor(LocalOptions(state_dir=str(tmp_path / "state")))
    supervisor.dir.mkdir(parents=True)
    config = tmp_path / "control-plane.json"
    write_config(
        config,
        template_paths(cdk_out),
        worker_url=addresses.worker_url,
        fallback_url=moto.url,
        processing=supervisor.processing_config(plan, addresses),
    )
    process = PlaneProcess(
        config, addresses.control_plane_port or 0, tmp_path / "plane.log", supervisor.api_token
    )
    process.start()
    yield process
    if process.proc and process.proc.poll() is None:
        process.proc.terminate()
        process.proc.wait(timeout=30)


def test_the_lambdas_reach_the_control_plane_for_sagemaker() -> None:
    addresses = LocalAddresses(1, worker_port=2, endpoint_port=3, api_port=None, control_plane_port=4)
    env = addresses.lambda_aws_env
    assert env["AWS_ENDPOINT_URL_SAGEMAKER"] == "http://127.0.0.1:4"
    assert env["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] == "http://127.0.0.1:3"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"


def test_the_images_of_the_job_definition_map_to_their_entry_points(plan: StackPlan) -> None:
    images = processing_images(plan)
    job = definition(plan)
    assert images[job.image_uri] == [sys.executable, "-m", "reelsight"]
    if job.mxnet_image_uri:
        assert images[job.mxnet_image_uri] == list(MXNET_COMMAND)
    rules = [
        r
        for r in plan.rules
        if r.event_pattern.get("detail-type") == ["SageMaker Processing Job State Change"]
    ]
    assert any(results_queue(plan).arn in r.queue_arns for r in rules)


def test_a_job_reports_to_the_results_queue_and_survives_a_restart(
    plane: PlaneProcess, plan: StackPlan, moto: MotoServer, tmp_path: Path
) -> None:
    job = definition(plan)
    script = tmp_path / "host.py"
    script.write_text(HOST_SCRIPT)
    sagemaker = plane.client()
    s3 = boto3.client("s3", endpoint_url=moto.url, **_credentials())
    sqs = boto3.client("sqs", endpoint_url=moto.url, **_credentials())

    def request(name: str, seconds: str) -> dict[str, Any]:
        return {
            "ProcessingJobName": name,
            "RoleArn": job.role_arn,
            # A ContainerEntrypoint replaces the image's, as on SageMaker; the arguments follow it.
            "AppSpecification": {
                "ImageUri": job.image_uri,
                "ContainerEntrypoint": [sys.executable, str(script)],
                "ContainerArguments": [seconds],
            },
            "ProcessingResources": {
                "ClusterConfig": {"InstanceCount": 1, "InstanceType": job.instance_type, "VolumeSizeInGB": 30}
            },
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": "results",
                        "S3Output": {
                            "S3Uri": f"s3://{job.results_bucket}/jobs/{name}/output/",
                            "LocalPath": "/opt/ml/processing/output",
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                ],
                **({"KmsKeyId": job.kms_key_arn} if job.kms_key_arn else {}),
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        }

    sagemaker.create_processing_job(**request("reelsight-stack-job", "0"))
    deadline = time.monotonic() + 60
    while (
        sagemaker.describe_processing_job(ProcessingJobName="reelsight-stack-job")["ProcessingJobStatus"]
        != "Completed"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    token = s3.get_object(Bucket=job.results_bucket, Key="jobs/reelsight-stack-job/output/token.txt")[
        "Body"
    ].read()
    assert token.decode() == plane.token  # the local API's token
    statuses = _statuses(sqs, results_queue(plan).url, "reelsight-stack-job")
    assert statuses == ["InProgress", "Completed"]

    sagemaker.create_processing_job(**request("reelsight-stack-cut", "120"))
    time.sleep(1.0)
    plane.kill()
    plane.start()
    described = plane.client().describe_processing_job(ProcessingJobName="reelsight-stack-cut")
    assert described["ProcessingJobStatus"] == "Failed" and described["FailureReason"] == RESTARTED
    assert (
        plane.client().describe_processing_job(ProcessingJobName="reelsight-stack-job")["ProcessingJobStatus"]
        == "Completed"
    )


def _credentials() -> dict[str, str]:
    return {
        "region_name": "us-east-1",
        "aws_access_key_id": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


def _statuses(sqs: Any, url: str, name: str) -> list[str]:
    statuses: list[str] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "Completed" not in statuses:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            event = parse_body(message["Body"])
            if (
                isinstance(event, ResultEvent)
                and json.loads(message["Body"])["detail"]["ProcessingJobName"] == name
            ):
                statuses.append(event.source_status)
    return statuses
