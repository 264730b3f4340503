"""The local SageMaker control plane, driven by boto3's real ``sagemaker`` client and its waiter,
for the endpoint that the synthesized templates declare."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, WaiterError

from reelsight.local.control_plane import ControlPlane, EndpointOperations, declared_endpoint
from reelsight.local.template import build_plan, template_paths
from reelsight.testing.moto_server import FAKE_CREDENTIALS, MotoServer

FAST_WAITER = {"Delay": 1, "MaxAttempts": 10}


class FakeWorkerPing:
    """A real loopback server that answers ``GET /ping`` with 200 once ``ready`` is set, else 503."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        ready = self.ready

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                self.send_response(200 if ready.is_set() and self.path == "/ping" else 503)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture(scope="module")
def worker() -> Iterator[FakeWorkerPing]:
    ping = FakeWorkerPing()
    yield ping
    ping.server.shutdown()


@pytest.fixture(scope="module")
def plane(cdk_out: Path, worker: FakeWorkerPing, moto_server: MotoServer) -> Iterator[ControlPlane]:
    operations = EndpointOperations(declared_endpoint(template_paths(cdk_out)), worker.url)
    with ControlPlane(operations.operations(), fallback_url=moto_server.url) as running:
        yield running


def _sagemaker(url: str) -> Any:
    return boto3.client(
        "sagemaker",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def test_the_endpoint_is_creating_until_the_worker_answers_then_the_waiter_succeeds(
    plane: ControlPlane, worker: FakeWorkerPing, cdk_out: Path
) -> None:
    name = build_plan(template_paths(cdk_out)).endpoint.name  # type: ignore[union-attr]
    client = _sagemaker(plane.url)
    worker.ready.clear()
    assert client.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Creating"
    assert client.list_endpoints(StatusEquals="InService")["Endpoints"] == []

    threading.Timer(1.5, worker.ready.set).start()
    client.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAITER)

    endpoint = client.describe_endpoint(EndpointName=name)
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["EndpointArn"] == f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{name.lower()}"
    assert endpoint["AsyncInferenceConfig"]["OutputConfig"]["S3OutputPath"].startswith("s3://")
    assert endpoint["ProductionVariants"][0]["CurrentInstanceCount"] == 1
    assert [
        e["EndpointName"] for e in client.list_endpoints(NameContains=name[-8:].lower())["Endpoints"]
    ] == [name]


def test_config_and_model_are_the_templates(plane: ControlPlane, cdk_out: Path) -> None:
    plan = build_plan(template_paths(cdk_out))
    assert plan.endpoint is not None
    client = _sagemaker(plane.url)
    config_name = client.describe_endpoint(EndpointName=plan.endpoint.name)["EndpointConfigName"]

    config = client.describe_endpoint_config(EndpointConfigName=config_name)
    output = config["AsyncInferenceConfig"]["OutputConfig"]
    assert output["S3OutputPath"] == plan.endpoint.output_path
    assert output["NotificationConfig"]["SuccessTopic"] == plan.endpoint.success_topic
    variant = config["ProductionVariants"][0]
    model = client.describe_model(ModelName=variant["ModelName"])
    assert model["PrimaryContainer"]["Environment"] == plan.endpoint.container_environment
    assert model["ExecutionRoleArn"].startswith("arn:aws:iam::123456789012:role/")
    assert [m["ModelName"] for m in client.list_models()["Models"]] == [variant["ModelName"]]


def test_the_endpoint_has_its_lineage_context(plane: ControlPlane, cdk_out: Path) -> None:
    name = build_plan(template_paths(cdk_out)).endpoint.name  # type: ignore[union-attr]
    client = _sagemaker(plane.url)
    arn = client.describe_endpoint(EndpointName=name)["EndpointArn"]

    [summary] = client.list_contexts(SourceUri=arn)["ContextSummaries"]
    assert client.list_contexts(SourceUri=arn + "-other")["ContextSummaries"] == []
    context = client.describe_context(ContextName=summary["ContextName"])
    assert context["ContextType"] == "Endpoint"
    assert context["Source"]["SourceUri"] == arn


def test_an_unknown_endpoint_is_a_validation_exception_and_fails_the_waiter(plane: ControlPlane) -> None:
    client = _sagemaker(plane.url)
    with pytest.raises(ClientError) as raised:
        client.describe_endpoint(EndpointName="nope")
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "Could not find endpoint" in raised.value.response["Error"]["Message"]
    with pytest.raises(WaiterError):
        client.get_waiter("endpoint_in_service").wait(EndpointName="nope", WaiterConfig=FAST_WAITER)


def test_operations_without_a_handler_reach_the_emulator(
    plane: ControlPlane, moto_server: MotoServer
) -> None:
    """Processing jobs, say: moto answers them through the same URL until they get a handler here."""
    name = f"forwarded-{uuid.uuid4().hex[:12]}"
    _sagemaker(plane.url).create_processing_job(
        ProcessingJobName=name,
        RoleArn="arn:aws:iam::123456789012:role/processing",
        AppSpecification={"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/worker:1"},
        ProcessingResources={
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}
        },
    )
    direct = _sagemaker(moto_server.url).describe_processing_job(ProcessingJobName=name)
    assert direct["ProcessingJobName"] == name  # it reached the emulator
    through = _sagemaker(plane.url).describe_processing_job(ProcessingJobName=name)
    assert through["ProcessingJobArn"] == direct["ProcessingJobArn"]


def test_without_an_emulator_an_unknown_operation_is_refused_by_name(worker: FakeWorkerPing) -> None:
    with ControlPlane({}, fallback_url=None) as bare, pytest.raises(ClientError) as raised:
        _sagemaker(bare.url).list_processing_jobs()
    assert raised.value.response["Error"]["Code"] == "UnknownOperationException"
    assert "ListProcessingJobs" in raised.value.response["Error"]["Message"]
