"""Start the work: one InvokeEndpointAsync call, or one CreateProcessingJob call."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from lambdas.common.jobids import processing_job_name
from lambdas.common.s3uri import s3_uri
from lambdas.common.settings import Settings
from reelsight import envvars
from reelsight.params import ENV_KEYS

PROCESSING_INPUT_DIR = "/opt/ml/processing/input/video"
PROCESSING_OUTPUT_DIR = "/opt/ml/processing/output"
# The worker image's entry point runs `reelsight process` when the arguments start with "process".
PROCESSING_ARGUMENTS = ["process"]
_ENV_FOR_KEY = {key: name for name, key in ENV_KEYS.items()}
# Families whose instances bring NVMe instance storage, which SageMaker encrypts itself and for
# which it refuses a VolumeKmsKeyId: the "d" variants (m5d, g4dn, p4d, ...) and these.
_INSTANCE_STORAGE_FAMILIES = frozenset({"g5", "g6", "g6e", "p5", "p5e", "p5en"})
_D_VARIANT = re.compile(r"^[a-z]+\d+[a-z]*d[a-z]*$")


def has_instance_storage(instance_type: str) -> bool:
    family = instance_type.split(".")[1] if instance_type.count(".") >= 2 else ""
    return family in _INSTANCE_STORAGE_FAMILIES or bool(_D_VARIANT.match(family))


class ConfigurationError(RuntimeError):
    """The deployment lacks a setting the chosen route needs (retrying will not help)."""


def job_prefix(settings: Settings, job_id: str) -> str:
    return f"jobs/{job_id}/"


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


def processing_environment(settings: Settings, job_id: str, overrides: Mapping[str, str]) -> dict[str, str]:
    environment = {envvars.JOB_ID: job_id}
    for key, value in overrides.items():
        environment[_ENV_FOR_KEY[key]] = value
    if settings.api_url:
        environment[envvars.API_URL] = settings.api_url
        if settings.api_token_secret_arn:
            # The job reads the token itself; the secret's value never appears in the job description.
            environment[envvars.API_TOKEN_SECRET_ARN] = settings.api_token_secret_arn
    return environment


def processing_request(
    settings: Settings,
    *,
    job_id: str,
    input_location: str,
    overrides: Mapping[str, str],
    framework: str = "torchvision",
) -> dict[str, Any]:
    """The CreateProcessingJob request for one object (exposed for tests and documentation).

    MXNet models run in their own image when ``REELSIGHT_MXNET_IMAGE_URI`` is set.
    """
    image = settings.processing_image_uri
    if framework == "mxnet" and settings.processing_mxnet_image_uri:
        image = settings.processing_mxnet_image_uri
    missing = [
        name
        for name, value in (
            (envvars.PROCESSING_ROLE_ARN, settings.processing_role_arn),
            (envvars.PROCESSING_IMAGE_URI, image),
            (envvars.RESULTS_BUCKET, settings.results_bucket),
        )
        if not value
    ]
    if missing:
        raise ConfigurationError(f"the Processing route needs {', '.join(missing)}")
    output_uri = s3_uri(settings.results_bucket, job_prefix(settings, job_id) + "output/")
    resources: dict[str, Any] = {
        "InstanceCount": settings.processing_instance_count,
        "InstanceType": settings.processing_instance_type,
        "VolumeSizeInGB": settings.processing_volume_gb,
    }
    output_config: dict[str, Any] = {
        "Outputs": [
            {
                "OutputName": "results",
                "S3Output": {
                    "S3Uri": output_uri,
                    "LocalPath": PROCESSING_OUTPUT_DIR,
                    "S3UploadMode": "EndOfJob",
                },
            }
        ]
    }
    if settings.kms_key_arn:
        output_config["KmsKeyId"] = settings.kms_key_arn
        if not has_instance_storage(settings.processing_instance_type):
            resources["VolumeKmsKeyId"] = settings.kms_key_arn
    request: dict[str, Any] = {
        "ProcessingJobName": processing_job_name(job_id),
        "RoleArn": settings.processing_role_arn,
        "AppSpecification": {
            "ImageUri": image,
            "ContainerArguments": PROCESSING_ARGUMENTS,
        },
        "ProcessingInputs": [
            {
                "InputName": "video",
                "S3Input": {
                    "S3Uri": input_location,
                    "LocalPath": PROCESSING_INPUT_DIR,
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                    "S3DataDistributionType": "ShardedByS3Key",
                },
            }
        ],
        "ProcessingOutputConfig": output_config,
        "ProcessingResources": {"ClusterConfig": resources},
        "StoppingCondition": {"MaxRuntimeInSeconds": settings.processing_max_runtime_seconds},
        "Environment": processing_environment(settings, job_id, overrides),
        "Tags": [{"Key": "reelsight:job-id", "Value": job_id}],
    }
    if settings.processing_subnet_ids:
        request["NetworkConfig"] = {
            "EnableInterContainerTrafficEncryption": True,
            "EnableNetworkIsolation": False,
            "VpcConfig": {
                "Subnets": list(settings.processing_subnet_ids),
                "SecurityGroupIds": list(settings.processing_security_group_ids),
            },
        }
    return request


def start_processing(
    sagemaker: Any,
    settings: Settings,
    *,
    job_id: str,
    input_location: str,
    overrides: Mapping[str, str],
    framework: str = "torchvision",
) -> dict[str, str]:
    """Create the Processing job; a job of that name that already exists counts as started."""
    request = processing_request(
        settings, job_id=job_id, input_location=input_location, overrides=overrides, framework=framework
    )
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
