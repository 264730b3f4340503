"""The supervisor's process builders: what each supervised process runs, and with which environment."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from reelsight import envvars
from reelsight.contract.processing import ProcessingJobDefinition
from reelsight.local.supervisor import LocalAddresses, LocalOptions, Supervisor, functions_with_event_sources
from reelsight.local.template import EndpointPlan, EventSourcePlan, FunctionPlan, StackPlan

ADDRESSES = LocalAddresses(moto_port=5000, worker_port=5001, endpoint_port=5002, api_port=5003)
NO_API = replace(ADDRESSES, api_port=None)
ENDPOINT = EndpointPlan(
    name="ep",
    output_path="s3://results/async/output",
    failure_path="s3://results/async/failure",
    success_topic="arn:aws:sns:us-east-1:123456789012:ok",
    error_topic="arn:aws:sns:us-east-1:123456789012:error",
    max_concurrency=2,
    instance_count=3,
    include_response_in=[],
    container_environment={envvars.FPS: "9", "CONTAINER_ONLY": "1"},
)


def _supervisor(tmp_path: Path, **options: str) -> Supervisor:
    return Supervisor(LocalOptions(state_dir=str(tmp_path), **options))


def test_worker_runs_the_local_options_and_reports_progress_to_the_api(tmp_path: Path) -> None:
    supervisor = _supervisor(tmp_path, max_frames="5", fps="2")
    worker = supervisor.build_worker(ENDPOINT, ADDRESSES, "random", 4)
    assert worker.argv[-5:] == ["serve", "--host", "127.0.0.1", "--port", "5001"]
    assert worker.health_url == "http://127.0.0.1:5001/ping"
    env = worker.env
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000"
    assert env["CONTAINER_ONLY"] == "1"
    assert env[envvars.FPS] == "2"  # the local options win over the container's environment
    assert (env[envvars.WEIGHTS], env[envvars.MAX_FRAMES], env[envvars.MAX_CONCURRENCY]) == (
        "random",
        "5",
        "4",
    )
    assert (env[envvars.API_URL], env[envvars.API_TOKEN]) == ("http://127.0.0.1:5003", supervisor.api_token)
    assert (tmp_path / "model").is_dir()


def test_without_the_api_the_worker_reports_no_progress(tmp_path: Path) -> None:
    env = _supervisor(tmp_path).build_worker(ENDPOINT, NO_API, "pretrained", 1).env
    assert envvars.API_URL not in env and envvars.API_TOKEN not in env


def test_async_endpoint_writes_its_configuration(tmp_path: Path) -> None:
    endpoint = _supervisor(tmp_path).build_async_endpoint(ENDPOINT, ADDRESSES, 2)
    config = json.loads((tmp_path / "endpoint.json").read_text())
    assert config["worker_url"] == "http://127.0.0.1:5001"
    assert config["max_concurrency"] == 2 * 3  # per instance, times the instances
    assert endpoint.argv[-4:] == ["--config", str(tmp_path / "endpoint.json"), "--port", "5002"]
    assert endpoint.health_url == "http://127.0.0.1:5002/ping"


def test_lambda_runners_only_for_functions_with_an_event_source(tmp_path: Path) -> None:
    fed = FunctionPlan(
        "Fed", "stack-fed", "lambdas.dispatch.handler.handler", {envvars.API_URL: "https://x"}, 3, None
    )
    idle = FunctionPlan("Idle", "stack-idle", "lambdas.results.handler.handler", {}, 3, None)
    plan = StackPlan(
        functions=[fed, idle], event_sources=[EventSourcePlan("stack-fed", "url", "arn", 10, True, 0)]
    )
    assert functions_with_event_sources(plan) == [fed]
    runner = _supervisor(tmp_path).build_lambda_runner(fed, NO_API)
    assert runner.name == "lambda-Fed"
    assert runner.env["AWS_LAMBDA_FUNCTION_NAME"] == "stack-fed"
    assert runner.env["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] == "http://127.0.0.1:5002"
    assert envvars.API_URL not in runner.env  # the deployed API's URL means nothing locally


def test_the_dispatchers_processing_jobs_report_to_the_local_api_if_any(tmp_path: Path) -> None:
    deployed = ProcessingJobDefinition(
        role_arn="arn:aws:iam::123456789012:role/processing",
        image_uri="worker:1",
        instance_type="ml.m5.xlarge",
        results_bucket="results",
        api_url="http://api.reelsight.internal:8000",
        api_token_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:token",
    )
    environment = {envvars.PROCESSING_JOB_DEFINITION: deployed.to_json()}
    dispatcher = FunctionPlan(
        "Dispatcher", "stack-dispatcher", "lambdas.dispatch.handler.handler", environment, 3, None
    )
    supervisor = _supervisor(tmp_path)

    def definition(addresses: LocalAddresses) -> ProcessingJobDefinition:
        env = supervisor.build_lambda_runner(dispatcher, addresses).env
        return ProcessingJobDefinition.from_json(env[envvars.PROCESSING_JOB_DEFINITION])

    assert definition(ADDRESSES) == replace(deployed, api_url="http://127.0.0.1:5003")
    assert definition(NO_API) == replace(deployed, api_url=None)


def test_api_serves_the_stack_table_and_buckets_with_the_stack_token(tmp_path: Path) -> None:
    supervisor = _supervisor(tmp_path)
    api = supervisor.build_api(
        {"jobs_table": "jobs", "input_bucket": "in", "results_bucket": None}, ADDRESSES
    )
    assert api.argv[-5:] == ["api", "--host", "127.0.0.1", "--port", "5003"]
    assert (api.env[envvars.JOBS_TABLE], api.env[envvars.INPUT_BUCKET]) == ("jobs", "in")
    assert envvars.RESULTS_BUCKET not in api.env
    assert api.env[envvars.API_TOKEN] == supervisor.api_token
