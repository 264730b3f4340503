"""Start the work: one InvokeEndpointAsync call, or one CreateProcessingJob call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from lambdas.common.settings import Settings
from reelsight import envvars
from reelsight.contract.batch import JobPlan
from reelsight.contract.processing import (
    ProcessingJobDefinition,
    create_batch_job_request,
    create_processing_job_request,
)
from reelsight.params import ENV_KEYS

_ENV_FOR_KEY = {key: name for name, key in ENV_KEYS.items()}


class ConfigurationError(RuntimeError):
    """The deployment lacks a setting the chosen route needs (retrying will not help)."""


def invoke_async(
    runtime: Any,
    settings: Settings,
    *,
    job_id: str,
    input_location: str,
    content_type: str,
    attributes: str,
) -> dict[str, str]:
    """Queue the object on the async endpoint; returns the fields to store on the job."""
    if not settings.endpoint_name:
        raise ConfigurationError(f"{envvars.ENDPOINT_NAME} is not set")
    response = runtime.invoke_endpoint_async(
        EndpointName=settings.endpoint_name,
        InputLocation=input_location,
        InferenceId=job_id,
        ContentType=content_type,
        Accept="application/json",
        CustomAttributes=attributes,
        InvocationTimeoutSeconds=settings.invocation_timeout_seconds,
        RequestTTLSeconds=settings.request_ttl_seconds,
    )
    fields = {
        "inference_id": response.get("InferenceId") or job_id,
        "endpoint_name": settings.endpoint_name,
        "output_location": response.get("OutputLocation"),
        "failure_location": response.get("FailureLocation"),
    }
    return {k: v for k, v in fields.items() if v}


def run_environment(settings: Settings, overrides: Mapping[str, str]) -> dict[str, str]:
    """The deployment's run defaults with the upload's overrides, as the worker's variables."""
    environment = dict(settings.run_defaults)
    for key, value in overrides.items():
        environment[_ENV_FOR_KEY[key]] = value
    return environment


def processing_request(
    settings: Settings,
    *,
    job_id: str,
    input_location: str,
    overrides: Mapping[str, str],
    framework: str = "torchvision",
) -> dict[str, Any]:
    """The CreateProcessingJob request for one object (exposed for tests and documentation)."""
    return create_processing_job_request(
        definition_of(settings),
        job_id=job_id,
        input_location=input_location,
        environment=run_environment(settings, overrides),
        framework=framework,
    )


def definition_of(settings: Settings) -> ProcessingJobDefinition:
    if settings.processing is None:
        raise ConfigurationError(f"the Processing route needs {envvars.PROCESSING_JOB_DEFINITION}")
    return settings.processing


def start_processing(
    sagemaker: Any,
    settings: Settings,
    *,
    job_id: str,
    input_location: str,
    overrides: Mapping[str, str],
    framework: str = "torchvision",
) -> dict[str, str]:
    """Create the Processing job of one video (its plan and manifest are written already)."""
    request = processing_request(
        settings, job_id=job_id, input_location=input_location, overrides=overrides, framework=framework
    )
    return create_job(sagemaker, request)


def start_plan(
    sagemaker: Any,
    settings: Settings,
    *,
    plan: JobPlan,
    attempt: int,
    instance_count: int,
    framework: str = "torchvision",
) -> dict[str, str]:
    """Create the Processing job of one attempt of a batch or split plan (inputs written already)."""
    definition = definition_of(settings)
    request = create_batch_job_request(
        definition,
        plan=plan,
        attempt=attempt,
        environment=run_environment(settings, plan.options),
        framework=framework,
        instance_count=instance_count,
    )
    return create_job(sagemaker, request)


def create_job(sagemaker: Any, request: Mapping[str, Any]) -> dict[str, str]:
    """Create the job; a job of that name that already exists counts as started."""
    name = request["ProcessingJobName"]
    try:
        response = sagemaker.create_processing_job(**request)
        arn = response.get("ProcessingJobArn", "")
    except ClientError as error:
        message = str(error.response.get("Error", {}).get("Message", ""))
        if error.response.get("Error", {}).get("Code") != "ValidationException" or "already" not in message:
            raise
        arn = ""
    fields = {
        "processing_job_name": name,
        "processing_job_arn": arn,
        "output_location": request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"],
    }
    return {k: v for k, v in fields.items() if v}
