"""The Processing job definition travels from the CDK app to the dispatcher as one JSON variable; the
request built from it is the same whether the definition comes from the synthesized template or Python."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lambdas.common.settings import Settings
from reelsight import envvars
from reelsight.contract.processing import ProcessingJobDefinition, create_processing_job_request
from reelsight.local.template import build_plan, load_resources, template_paths
from stacks.config import api_url, config_from_context
from tests.infra.synth import cdk_json_context, synthesize

FULL = ProcessingJobDefinition(
    role_arn="arn:aws:iam::123456789012:role/processing",
    image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/worker:1",
    mxnet_image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/mxnet:1",
    instance_type="ml.m5.xlarge",
    instance_count=2,
    volume_size_gb=50,
    max_runtime_seconds=3600,
    results_bucket="results",
    kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/k",
    subnet_ids=("subnet-a", "subnet-b"),
    security_group_ids=("sg-1",),
    api_url="http://api.internal:8000",
    api_token_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:token",
)
MINIMAL = ProcessingJobDefinition(
    role_arn=FULL.role_arn, image_uri=FULL.image_uri, instance_type="ml.g5.xlarge", results_bucket="results"
)
JOB = {"job_id": "0123abcd", "input_location": "s3://in/incoming/a.mp4", "environment": {envvars.FPS: "2"}}


@pytest.mark.parametrize("definition", [FULL, MINIMAL], ids=["full", "minimal"])
def test_the_definition_round_trips_through_json(definition: ProcessingJobDefinition) -> None:
    assert ProcessingJobDefinition.from_json(definition.to_json()) == definition


def _changed(**fields: Any) -> str:
    return json.dumps({**FULL.to_dict(), **fields})


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("{", "not JSON"),
        ("[]", "object"),
        (_changed(instance_count="2"), "instance_count"),
        (_changed(subnet_ids="subnet-a"), "subnet_ids"),
        (_changed(role_arn=None), "role_arn"),
        (_changed(image_uri=""), "image_uri"),
        (_changed(volume_size_gb=0), "volume_size_gb"),
        (_changed(role="arn:aws:iam::1:role/r"), "role"),
    ],
)
def test_a_malformed_definition_names_what_is_wrong(text: str, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        ProcessingJobDefinition.from_json(text)


def test_the_dispatcher_settings_read_the_definition() -> None:
    assert Settings.from_env({envvars.PROCESSING_JOB_DEFINITION: FULL.to_json()}).processing == FULL
    assert Settings.from_env({}).processing is None
    with pytest.raises(ValueError, match=envvars.PROCESSING_JOB_DEFINITION):
        Settings.from_env({envvars.PROCESSING_JOB_DEFINITION: "{}"})


def test_the_request_carries_the_definition_and_the_job() -> None:
    request = create_processing_job_request(FULL, **JOB, framework="mxnet")
    assert request == {
        "ProcessingJobName": "reelsight-0123abcd",
        "RoleArn": FULL.role_arn,
        "AppSpecification": {"ImageUri": FULL.mxnet_image_uri, "ContainerArguments": ["process"]},
        # Exactly the one object: a manifest the dispatcher writes names it (an S3Prefix on its key
        # would also download a sibling such as incoming/a.mp4.mov), and the one-part plan.
        "ProcessingInputs": [
            {
                "InputName": "video",
                "S3Input": {
                    "S3Uri": "s3://results/jobs/0123abcd/input-1.manifest",
                    "LocalPath": "/opt/ml/processing/input/video",
                    "S3DataType": "ManifestFile",
                    "S3InputMode": "File",
                    "S3DataDistributionType": "ShardedByS3Key",
                },
            },
            {
                "InputName": "plan",
                "S3Input": {
                    "S3Uri": "s3://results/jobs/0123abcd/plan.json",
                    "LocalPath": "/opt/ml/processing/input/plan",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                    "S3DataDistributionType": "FullyReplicated",
                },
            },
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "results",
                    "S3Output": {
                        "S3Uri": "s3://results/jobs/0123abcd/output/",
                        "LocalPath": "/opt/ml/processing/output",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ],
            "KmsKeyId": FULL.kms_key_arn,
        },
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 2,
                "InstanceType": "ml.m5.xlarge",
                "VolumeSizeInGB": 50,
                "VolumeKmsKeyId": FULL.kms_key_arn,  # m5 has no instance storage
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "Environment": {
            envvars.FPS: "2",
            envvars.JOB_ID: "0123abcd",
            envvars.ATTEMPT: "1",
            envvars.API_URL: FULL.api_url,
            envvars.API_TOKEN_SECRET_ARN: FULL.api_token_secret_arn,
            envvars.INSTANCE_TYPE: "ml.m5.xlarge",  # for the cost receipt
        },
        "Tags": [{"Key": "reelsight:job-id", "Value": "0123abcd"}],
        "NetworkConfig": {
            "EnableInterContainerTrafficEncryption": True,
            "EnableNetworkIsolation": False,
            "VpcConfig": {"Subnets": ["subnet-a", "subnet-b"], "SecurityGroupIds": ["sg-1"]},
        },
    }


def test_what_a_definition_leaves_out_stays_out_of_the_request() -> None:
    request = create_processing_job_request(MINIMAL, **JOB, framework="mxnet")
    assert request["AppSpecification"]["ImageUri"] == MINIMAL.image_uri  # no MXNet image: the worker's
    assert "KmsKeyId" not in request["ProcessingOutputConfig"]
    assert "VolumeKmsKeyId" not in request["ProcessingResources"]["ClusterConfig"]
    assert "NetworkConfig" not in request
    assert request["Environment"] == {
        envvars.FPS: "2",
        envvars.JOB_ID: "0123abcd",
        envvars.ATTEMPT: "1",
        envvars.INSTANCE_TYPE: MINIMAL.instance_type,  # for the cost receipt; no prices: no override
    }


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("cdk-out")
    synthesize(out, nag=False)
    return template_paths(out)


def _definition_from_python(templates: list[Path]) -> ProcessingJobDefinition:
    """The definition from the app's configuration and, for what CloudFormation names, the templates'
    outputs and resources, resolved as the local stack resolves them."""
    plan = build_plan(templates)
    resources, _, resolver = load_resources(templates)
    config = config_from_context(cdk_json_context().get)
    dispatcher = next(f for f in plan.functions if f.role == "dispatch-function")
    vpc = resources[("ReelsightPipeline", dispatcher.logical_id)].properties["VpcConfig"]
    group = next(r for r in resources.values() if r.role == "processing-security-group")
    return ProcessingJobDefinition(
        role_arn=plan.outputs["ProcessingRoleArn"],
        image_uri=plan.outputs["WorkerImageUri"],
        mxnet_image_uri=plan.outputs["SegmentationImageUri"],
        instance_type=config.processing.instance_type,
        instance_count=config.processing.instance_count,
        volume_size_gb=config.processing.volume_size_gb,
        max_runtime_seconds=config.processing.max_runtime_seconds,
        results_bucket=plan.outputs["ResultsBucketName"],
        kms_key_arn=plan.outputs["DataKeyArn"],
        subnet_ids=tuple(resolver.resolve("ReelsightPipeline", vpc["SubnetIds"])),
        security_group_ids=(resolver.get_att(group.stack, group.logical_id, "GroupId"),),
        api_url=api_url(config.api),
        api_token_secret_arn=plan.outputs["ApiTokenSecretArn"],
        api_certificate_parameter=plan.outputs["ApiCertificateParameter"],
    )


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["torchvision", "mxnet"])
def test_the_templates_definition_builds_the_request_python_builds(
    templates: list[Path], framework: str
) -> None:
    dispatcher = next(f for f in build_plan(templates).functions if f.role == "dispatch-function")
    from_template = ProcessingJobDefinition.from_json(
        dispatcher.environment[envvars.PROCESSING_JOB_DEFINITION]
    )
    from_python = _definition_from_python(templates)
    assert create_processing_job_request(from_template, **JOB, framework=framework) == (
        create_processing_job_request(from_python, **JOB, framework=framework)
    )
