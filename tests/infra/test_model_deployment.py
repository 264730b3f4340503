"""What `model`, `processingInstanceType` and `modelArtifacts` do to the synthesized app: the MXNet
image's build (CUDA on GPU instance types), an MXNet deployment default, and the model-artifact grant."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reelsight import envvars
from stacks.config import (
    MXNET_CUDA_BASE_IMAGE,
    ConfigError,
    ModelArtifacts,
    config_from_context,
    has_nvidia_gpu,
)
from tests.infra.synth import REPO_ROOT, Synthesized, synthesize

PIPELINE = "ReelsightPipeline"
SEGMENTATION = "containers/segmentation/Dockerfile"
WORKER = "containers/worker/Dockerfile"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
# An MXNet default model on CPU Processing instances, with a training job's output readable in place.
CPU_MXNET = {
    "model": "deeplab_resnet101_citys",
    "processingInstanceType": "ml.m5.xlarge",
    "modelArtifacts": "s3://training-output/detector",
    "modelArtifactsKeyArn": KEY_ARN,
}
GRANT_SIDS = {"ListModelArtifacts", "ReadModelArtifacts", "DecryptModelArtifacts"}
CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"


@pytest.fixture(scope="module")
def cpu_mxnet(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    # nag=True: cdk-nag's AwsSolutions and cfn-guard's Control Tower rules stay green with the grant.
    return synthesize(tmp_path_factory.mktemp("cdk-out-cpu-mxnet"), context=CPU_MXNET, nag=True)


def build_args(synthesized: Synthesized) -> dict[str, dict[str, str]]:
    """Dockerfile -> its image asset's build arguments, as the CDK CLI would pass them to docker."""
    manifest = json.loads((synthesized.outdir / f"{PIPELINE}.assets.json").read_text())
    return {
        image["source"]["dockerFile"]: image["source"].get("dockerBuildArgs", {})
        for image in manifest["dockerImages"].values()
    }


def grant_statements(synthesized: Synthesized) -> dict[str, list[dict[str, Any]]]:
    """Role logical id -> the model-artifact statements of its policies."""
    found: dict[str, list[dict[str, Any]]] = {}
    for policy in synthesized.resources(PIPELINE, "AWS::IAM::Policy").values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        mine = [s for s in statements if s.get("Sid") in GRANT_SIDS or "training-output" in json.dumps(s)]
        for role in policy["Properties"]["Roles"]:
            found.setdefault(role["Ref"], []).extend(mine)
    return {role: statements for role, statements in found.items() if statements}


def info_messages(synthesized: Synthesized) -> list[str]:
    metadata = json.loads((synthesized.outdir / f"{PIPELINE}.metadata.json").read_text())
    return [
        entry["data"] for entries in metadata.values() for entry in entries if entry["type"] == "aws:cdk:info"
    ]


def run_defaults(environment: dict[str, Any]) -> str:
    return str(environment[envvars.MODEL])


def test_gpu_processing_instances_get_mxnets_cuda_build(synthesized: Synthesized) -> None:
    # cdk.json's processingInstanceType is ml.g4dn.xlarge.
    assert build_args(synthesized)[SEGMENTATION] == {
        "MODEL": "deeplab_resnet101_citys",
        "MXNET_VARIANT": "cu112",
        "BASE_IMAGE": MXNET_CUDA_BASE_IMAGE,
    }


def test_cpu_processing_instances_get_mxnets_cpu_build(cpu_mxnet: Synthesized) -> None:
    assert build_args(cpu_mxnet)[SEGMENTATION] == {"MODEL": "deeplab_resnet101_citys", "MXNET_VARIANT": "cpu"}


@pytest.mark.parametrize(
    ("instance_type", "gpu"),
    [
        ("ml.g4dn.xlarge", True),
        ("ml.g5.2xlarge", True),
        ("ml.g6e.xlarge", True),
        ("ml.p3.2xlarge", True),
        ("ml.p4d.24xlarge", True),
        ("ml.p5.48xlarge", True),
        ("ml.g4ad.xlarge", False),  # AMD GPUs
        ("ml.g5g.xlarge", False),  # Graviton (arm64)
        ("ml.m5.xlarge", False),
        ("ml.c5.2xlarge", False),
        ("ml.inf2.xlarge", False),
        ("ml.trn1.2xlarge", False),
    ],
)
def test_nvidia_instance_types_are_told_apart(instance_type: str, gpu: bool) -> None:
    assert has_nvidia_gpu(instance_type) is gpu


def test_the_cuda_base_is_pinned_and_carries_cuda_11_with_cudnn() -> None:
    # MXNet's cu112 wheel links libcudart.so.11.0, libcudnn.so.8 and libnccl.so.2.
    assert re.fullmatch(r"nvidia/cuda:11\.\d+\.\d+-cudnn8-runtime-ubuntu\d+\.\d+", MXNET_CUDA_BASE_IMAGE)
    dockerfile = (REPO_ROOT / SEGMENTATION).read_text()
    assert "COPY requirements/mxnet.txt requirements/mxnet-cu112.txt ./" in dockerfile
    assert 'lock="mxnet-${MXNET_VARIANT}.txt"' in dockerfile
    assert (REPO_ROOT / "requirements" / "mxnet-cu112.txt").read_text().count("\nmxnet-cu112==1.9.1 ") == 1


def test_segmentation_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    answer = subprocess.run(
        [str(hadolint), str(REPO_ROOT / SEGMENTATION)], capture_output=True, text=True, timeout=60
    )
    assert answer.returncode == 0, answer.stdout + answer.stderr


def test_an_mxnet_default_runs_in_the_mxnet_image_and_the_endpoint_keeps_torch(
    cpu_mxnet: Synthesized,
) -> None:
    args = build_args(cpu_mxnet)
    assert args[WORKER] == {"MODEL": "maskrcnn"}  # the worker image bakes a model it can run
    (model,) = cpu_mxnet.resources(PIPELINE, "AWS::SageMaker::Model").values()
    assert run_defaults(model["Properties"]["PrimaryContainer"]["Environment"]) == "maskrcnn"
    (dispatcher,) = (
        function
        for function in cpu_mxnet.resources(PIPELINE, "AWS::Lambda::Function").values()
        if envvars.PROCESSING_JOB_DEFINITION in function["Properties"]["Environment"]["Variables"]
    )
    # Uploads that keep the default go to Processing jobs, in the MXNet image (lambdas/dispatch/routing.py).
    assert run_defaults(dispatcher["Properties"]["Environment"]["Variables"]) == "deeplab_resnet101_citys"
    (note,) = info_messages(cpu_mxnet)
    assert "deeplab_resnet101_citys" in note and "serves maskrcnn" in note and "endpointModel" in note


def test_the_endpoint_model_of_an_mxnet_default_can_be_chosen() -> None:
    config = config_from_context({"model": "deeplab_resnet101_citys", "endpointModel": "fasterrcnn"}.get)
    assert (config.endpoint.serving_model, config.endpoint.model) == ("fasterrcnn", "deeplab_resnet101_citys")
    assert config.processing.mxnet_model == "deeplab_resnet101_citys"


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"model": "deeplab_resnet101_citys", "endpointModel": "builtin_ssd"}, "must be a torchvision model"),
        ({"endpointModel": "fasterrcnn"}, "applies only when 'model' is an MXNet model"),
    ],
)
def test_an_endpoint_model_that_would_not_be_coherent_is_refused(
    context: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_context(context.get)


def test_builtin_ssd_as_the_default_fails_at_synth_naming_the_keys_to_use(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        synthesize(tmp_path, context={"model": "builtin_ssd"}, nag=False)
    text = str(error.value)
    assert "builtin_ssd has no pretrained weights" in text
    assert "'model'" in text and "weights=s3://" in text and "modelArtifacts" in text


def test_the_model_artifact_grant_is_read_only_and_prefix_scoped(cpu_mxnet: Synthesized) -> None:
    grants = grant_statements(cpu_mxnet)
    assert sorted(role.rstrip("0123456789ABCDEF") for role in grants) == ["ProcessingRole", "WorkerRole"]
    bucket = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::training-output"]]}
    objects = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::training-output/detector/*"]]}
    for statements in grants.values():
        assert sorted(statements, key=lambda s: s["Sid"]) == [
            {"Action": "kms:Decrypt", "Effect": "Allow", "Resource": KEY_ARN, "Sid": "DecryptModelArtifacts"},
            {
                "Action": "s3:ListBucket",
                "Condition": {"StringLike": {"s3:prefix": ["detector/*"]}},
                "Effect": "Allow",
                "Resource": bucket,
                "Sid": "ListModelArtifacts",
            },
            {"Action": "s3:GetObject", "Effect": "Allow", "Resource": objects, "Sid": "ReadModelArtifacts"},
        ]


def gateway_statements(synthesized: Synthesized) -> list[dict[str, Any]]:
    """The S3 gateway endpoint's statements that admit the model artifacts."""
    (endpoint,) = (
        resource
        for resource in synthesized.resources("ReelsightNetwork", "AWS::EC2::VPCEndpoint").values()
        if resource["Properties"]["VpcEndpointType"] == "Gateway"
        and "s3" in json.dumps(resource).lower()
        and "PolicyDocument" in resource["Properties"]
    )
    statements = endpoint["Properties"]["PolicyDocument"]["Statement"]
    return [s for s in statements if "training-output" in json.dumps(s)]


def test_the_s3_gateway_endpoint_admits_the_model_artifacts_read_only(cpu_mxnet: Synthesized) -> None:
    # VPC-mode Processing jobs reach S3 only through this endpoint.
    (statement,) = gateway_statements(cpu_mxnet)
    assert statement["Sid"] == "ModelArtifacts" and statement["Effect"] == "Allow"
    assert sorted(statement["Action"]) == ["s3:GetObject", "s3:ListBucket"]
    assert [r["Fn::Join"][1][-1] for r in statement["Resource"]] == [
        ":s3:::training-output",
        ":s3:::training-output/detector/*",
    ]
    assert "aws:PrincipalAccount" in statement["Condition"]["StringEquals"]


def test_no_model_artifact_grant_without_the_context(synthesized: Synthesized) -> None:
    assert grant_statements(synthesized) == {}
    assert gateway_statements(synthesized) == []
    assert config_from_context({}.get).processing.model_artifacts is None


@pytest.mark.skipif(not CHECKOV.exists(), reason="checkov's environment is missing (mk/cdk.mk)")
def test_checkov_passes_with_the_grant(cpu_mxnet: Synthesized, tmp_path: Path) -> None:
    (tmp_path / f"{PIPELINE}.template.json").write_bytes(
        (cpu_mxnet.outdir / f"{PIPELINE}.template.json").read_bytes()
    )
    answer = subprocess.run(
        [str(CHECKOV), "--config-file", str(REPO_ROOT / ".checkov.yaml"), "-d", str(tmp_path), "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(answer.stdout)
    assert [check["check_id"] for check in report["results"]["failed_checks"]] == []
    assert report["summary"]["passed"] > 10


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("s3://models/train/out/", ModelArtifacts(bucket="models", prefix="train/out/")),
        ("models/train/out", ModelArtifacts(bucket="models", prefix="train/out/")),
        ("s3://models", ModelArtifacts(bucket="models", prefix="")),
    ],
)
def test_model_artifacts_locations(location: str, expected: ModelArtifacts) -> None:
    assert config_from_context({"modelArtifacts": location}.get).endpoint.model_artifacts == expected


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"modelArtifacts": "s3://Bad_Bucket/x"}, "must be s3://<bucket>/<prefix>/"),
        ({"modelArtifacts": "s3://models/train/*"}, "the prefix must be literal"),
        ({"modelArtifactsKeyArn": KEY_ARN}, "needs 'modelArtifacts'"),
        ({"modelArtifacts": "s3://models/x", "modelArtifactsKeyArn": "alias/mine"}, "must be a KMS key ARN"),
    ],
)
def test_bad_model_artifacts_context_is_refused(context: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        config_from_context(context.get)


def test_a_whole_bucket_grant_lists_without_a_prefix_condition() -> None:
    from stacks.constructs.model_artifacts import model_artifact_statements

    listing, read = model_artifact_statements(ModelArtifacts(bucket="models"))
    assert listing.to_json().get("Condition") is None
    assert read.to_json()["Resource"].endswith(":s3:::models/*")
