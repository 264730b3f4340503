"""The Processing jobs reelsight starts: their static definition and the requests built from it.

The CDK app builds one :class:`ProcessingJobDefinition` from its configuration and hands it to the
dispatcher as one environment variable (JSON, :data:`reelsight.envvars.PROCESSING_JOB_DEFINITION`);
the dispatcher adds what varies per job with :func:`create_batch_job_request` (a batch or split
:class:`~reelsight.contract.batch.JobPlan`) or :func:`create_processing_job_request` (one video).
Every job carries a plan: a one-video job runs the batch plan of one part
(:func:`single_video_plan`), so the worker has one code path. Each job reads two inputs, both
written by the dispatcher to the results bucket before the job starts: the ManifestFile naming
exactly the videos to read (channel ``video``) and ``plan.json`` (channel ``plan``). Tests build
requests with the same functions, from the synthesized template's definition or from Python values.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from reelsight import envvars
from reelsight.contract.batch import (
    PLAN_CHANNEL,
    PLAN_INPUT_DIR,
    VIDEO_CHANNEL,
    JobPlan,
    Mode,
    Part,
    attempt_job_name,
    manifest_key,
    output_names,
    plan_key,
)
from reelsight.contract.names import output_prefix, s3_uri, split_s3_uri

CONTAINER_ROOT = "/opt/ml"
PROCESSING_INPUT_DIR = "/opt/ml/processing/input/video"
PROCESSING_OUTPUT_DIR = "/opt/ml/processing/output"
# The worker image's entry point runs `reelsight process` when the arguments start with "process".
PROCESSING_ARGUMENTS = ("process",)
JOB_ID_TAG = "reelsight:job-id"
MXNET_FRAMEWORK = "mxnet"
# Families whose instances bring NVMe instance storage, which SageMaker encrypts itself and for
# which it refuses a VolumeKmsKeyId: the "d" variants (m5d, g4dn, p4d, ...) and these.
_INSTANCE_STORAGE_FAMILIES = frozenset({"g5", "g6", "g6e", "p5", "p5e", "p5en"})
_D_VARIANT = re.compile(r"^[a-z]+\d+[a-z]*d[a-z]*$")


def container_path(path: str, environ: Mapping[str, str]) -> str:
    """``path`` as this process sees it: a path under /opt/ml moves under ``OPT_ML_ROOT`` when set."""
    root = environ.get(envvars.OPT_ML_ROOT)
    if not root or not (path == CONTAINER_ROOT or path.startswith(CONTAINER_ROOT + "/")):
        return path
    return root.rstrip("/") + path[len(CONTAINER_ROOT) :]


def has_instance_storage(instance_type: str) -> bool:
    family = instance_type.split(".")[1] if instance_type.count(".") >= 2 else ""
    return family in _INSTANCE_STORAGE_FAMILIES or bool(_D_VARIANT.match(family))


@dataclass(frozen=True, kw_only=True)
class ProcessingJobDefinition:
    """What every reelsight Processing job shares; ``None`` or empty fields are not configured."""

    role_arn: str
    image_uri: str
    instance_type: str
    results_bucket: str
    # MXNet/GluonCV models run in their own image when one is given, else in ``image_uri``.
    mxnet_image_uri: str | None = None
    instance_count: int = 1
    volume_size_gb: int = 100
    max_runtime_seconds: int = 86400
    kms_key_arn: str | None = None
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    api_url: str | None = None
    api_token_secret_arn: str | None = None
    # The SSM parameter with the API host's TLS certificate, which the job pins (reelsight.tls).
    api_certificate_parameter: str | None = None
    prices: str | None = None  # the deployment's price overrides, JSON (reelsight.contract.cost)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (lists for tuples), for ``to_json`` and for the CDK's ``to_json_string``."""
        return {
            name: list(value) if isinstance(value, tuple) else value for name, value in asdict(self).items()
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ProcessingJobDefinition:
        """The definition ``to_json`` wrote (a missing optional field takes its default); else ValueError."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"not JSON: {error}") from None
        if not isinstance(data, dict):
            raise ValueError("must be a JSON object")
        given = {name: value for name, value in data.items() if value is not None}
        unknown = set(given) - {f.name for f in fields(cls)}
        missing = set(_REQUIRED_FIELDS) - set(given)
        if unknown or missing:
            raise ValueError(f"unknown fields {sorted(unknown)}, missing fields {sorted(missing)}")
        return cls(**{name: _checked(name, value) for name, value in given.items()})

    def __post_init__(self) -> None:
        for name in _REQUIRED_FIELDS:
            if not getattr(self, name):
                raise ValueError(f"{name} is required")
        for name in ("instance_count", "volume_size_gb", "max_runtime_seconds"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    def image_for(self, framework: str) -> str:
        if framework == MXNET_FRAMEWORK and self.mxnet_image_uri:
            return self.mxnet_image_uri
        return self.image_uri

    def cost_environment(self) -> dict[str, str]:
        """What the job's cost receipt needs: its instance type and the deployment's price overrides."""
        environment = {envvars.INSTANCE_TYPE: self.instance_type}
        if self.prices:
            environment[envvars.PRICES] = self.prices
        return environment

    def api_environment(self) -> dict[str, str]:
        """Where the job reports its progress; the job reads the token itself, so the secret's value
        never appears in the job description."""
        if not self.api_url:
            return {}
        environment = {envvars.API_URL: self.api_url}
        if self.api_token_secret_arn:
            environment[envvars.API_TOKEN_SECRET_ARN] = self.api_token_secret_arn
        if self.api_certificate_parameter:
            environment[envvars.API_CERT_PARAMETER] = self.api_certificate_parameter
        return environment


_REQUIRED_FIELDS = ("role_arn", "image_uri", "instance_type", "results_bucket")
_INT_FIELDS = frozenset({"instance_count", "volume_size_gb", "max_runtime_seconds"})
_LIST_FIELDS = frozenset({"subnet_ids", "security_group_ids"})


def _checked(name: str, value: Any) -> Any:
    if name in _INT_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer, got {value!r}")
        return value
    if name in _LIST_FIELDS:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValueError(f"{name} must be a list of strings, got {value!r}")
        return tuple(value)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {value!r}")
    return value


def single_video_plan(
    job_id: str,
    video: str,
    *,
    mode: Mode = "infer",
    image_format: str = "jpg",
    options: Mapping[str, str] | None = None,
) -> JobPlan:
    """The plan of a one-video job: a batch of one part, whose record is the job's own. The
    dispatcher has decided already that ``video`` (s3://) is one, by the deployment's suffixes."""
    bucket, key = split_s3_uri(video)
    folder, name = posixpath.split(key)
    part = Part(part_id=output_names([name])[name], video=video, relative_path=name)
    return JobPlan(
        job_id=job_id,
        kind="batch",
        parts=(part,),
        mode=mode,
        image_format=image_format,
        options=dict(options or {}),
        input_prefix=s3_uri(bucket, f"{folder}/" if folder else ""),
    )


def plan_location(definition: ProcessingJobDefinition, job_id: str) -> str:
    return s3_uri(definition.results_bucket, plan_key(job_id))


def manifest_location(definition: ProcessingJobDefinition, job_id: str, attempt: int) -> str:
    return s3_uri(definition.results_bucket, manifest_key(job_id, attempt))


def create_batch_job_request(
    definition: ProcessingJobDefinition,
    *,
    plan: JobPlan,
    attempt: int,
    environment: Mapping[str, str],
    framework: str = "torchvision",
    instance_count: int | None = None,
) -> dict[str, Any]:
    """The CreateProcessingJob request of one attempt of ``plan``; ``environment`` holds its run
    options. The job reads the plan and the attempt's manifest where the dispatcher writes them
    (:func:`plan_location`, :func:`manifest_location`). A batch shards the manifest's videos over
    the hosts; a split gives each host the video."""
    job_id = plan.job_id
    request: dict[str, Any] = {
        "ProcessingJobName": attempt_job_name(job_id, attempt),
        "RoleArn": definition.role_arn,
        "AppSpecification": {
            "ImageUri": definition.image_for(framework),
            "ContainerArguments": list(PROCESSING_ARGUMENTS),
        },
        "ProcessingInputs": [
            _video_input(manifest_location(definition, job_id, attempt), sharded=plan.kind == "batch"),
            _plan_input(plan_location(definition, job_id)),
        ],
        "ProcessingOutputConfig": _output_config(definition, job_id),
        "ProcessingResources": {"ClusterConfig": _cluster_config(definition, instance_count)},
        "StoppingCondition": {"MaxRuntimeInSeconds": definition.max_runtime_seconds},
        "Environment": {
            **environment,
            envvars.JOB_ID: job_id,
            envvars.ATTEMPT: str(attempt),
            **definition.api_environment(),
            **definition.cost_environment(),
        },
        "Tags": [{"Key": JOB_ID_TAG, "Value": job_id}],
    }
    if definition.subnet_ids:
        request["NetworkConfig"] = _network_config(definition)
    return request


def create_processing_job_request(
    definition: ProcessingJobDefinition,
    *,
    job_id: str,
    input_location: str,
    environment: Mapping[str, str],
    framework: str = "torchvision",
) -> dict[str, Any]:
    """The CreateProcessingJob request for one video (``input_location``, s3://). It reads the
    manifest and plan the dispatcher writes (:func:`single_video_plan`, :func:`manifest_location`,
    :func:`plan_location`), so the job downloads exactly that object and no key that merely starts
    with it."""
    return create_batch_job_request(
        definition,
        plan=single_video_plan(job_id, input_location),
        attempt=1,
        environment=environment,
        framework=framework,
    )


def _video_input(manifest_uri: str, *, sharded: bool) -> dict[str, Any]:
    return {
        "InputName": VIDEO_CHANNEL,
        "S3Input": {
            "S3Uri": manifest_uri,
            "LocalPath": PROCESSING_INPUT_DIR,
            "S3DataType": "ManifestFile",
            "S3InputMode": "File",
            "S3DataDistributionType": "ShardedByS3Key" if sharded else "FullyReplicated",
        },
    }


def _plan_input(plan_uri: str) -> dict[str, Any]:
    return {
        "InputName": PLAN_CHANNEL,
        "S3Input": {
            "S3Uri": plan_uri,
            "LocalPath": PLAN_INPUT_DIR,
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated",
        },
    }


def _output_config(definition: ProcessingJobDefinition, job_id: str) -> dict[str, Any]:
    output = {
        "OutputName": "results",
        "S3Output": {
            "S3Uri": s3_uri(definition.results_bucket, output_prefix(job_id)),
            "LocalPath": PROCESSING_OUTPUT_DIR,
            "S3UploadMode": "EndOfJob",
        },
    }
    config: dict[str, Any] = {"Outputs": [output]}
    if definition.kms_key_arn:
        config["KmsKeyId"] = definition.kms_key_arn
    return config


def _cluster_config(definition: ProcessingJobDefinition, instance_count: int | None) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "InstanceCount": instance_count or definition.instance_count,
        "InstanceType": definition.instance_type,
        "VolumeSizeInGB": definition.volume_size_gb,
    }
    if definition.kms_key_arn and not has_instance_storage(definition.instance_type):
        cluster["VolumeKmsKeyId"] = definition.kms_key_arn
    return cluster


def _network_config(definition: ProcessingJobDefinition) -> dict[str, Any]:
    return {
        "EnableInterContainerTrafficEncryption": True,
        "EnableNetworkIsolation": False,
        "VpcConfig": {
            "Subnets": list(definition.subnet_ids),
            "SecurityGroupIds": list(definition.security_group_ids),
        },
    }
