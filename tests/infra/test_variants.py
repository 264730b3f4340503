"""Context overrides reach the templates, and the variant still passes cdk-nag."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match, Template

from tests.infra.synth import Synthesized, synthesize

OVERRIDES = {
    "natGateways": 1,
    "alarmEmail": "ops@example.com",
    "resultsEmail": "viewer@example.com",
    "dataRemovalPolicy": "destroy",
    "maxInstances": 3,
    "maxConcurrentInvocations": 4,
    "instanceType": "ml.g5.xlarge",
    "model": "fasterrcnn",
    "fps": 2,
}


@pytest.fixture(scope="module")
def variant(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk-out-variant"), context=OVERRIDES, nag=True)


def test_nat_variant_has_public_subnets_and_egress(variant: Synthesized) -> None:
    network = Template.from_json(variant.templates["ReelsightNetwork"])
    network.resource_count_is("AWS::EC2::NatGateway", 1)
    network.resource_count_is("AWS::EC2::InternetGateway", 1)
    network.resource_count_is("AWS::EC2::Subnet", 4)


def test_overrides_reach_endpoint_scaling_and_topics(variant: Synthesized) -> None:
    pipeline = Template.from_json(variant.templates["ReelsightPipeline"])
    pipeline.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget", {"MinCapacity": 0, "MaxCapacity": 3}
    )
    pipeline.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "ProductionVariants": [Match.object_like({"InstanceType": "ml.g5.xlarge"})],
            "AsyncInferenceConfig": Match.object_like(
                {"ClientConfig": {"MaxConcurrentInvocationsPerInstance": 4}}
            ),
        },
    )
    pipeline.has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "PrimaryContainer": Match.object_like(
                {"Environment": Match.object_like({"REELSIGHT_MODEL": "fasterrcnn", "REELSIGHT_FPS": "2"})}
            )
        },
    )
    emails = {
        props["Properties"]["Endpoint"]
        for props in variant.resources("ReelsightPipeline", "AWS::SNS::Subscription").values()
        if props["Properties"]["Protocol"] == "email"
    }
    assert emails == {"ops@example.com", "viewer@example.com"}


def test_destroy_policy_reaches_stateful_resources(variant: Synthesized) -> None:
    data = variant.resources("ReelsightData")
    for logical_id in ("DataKey", "InputBucket", "ResultsBucket", "JobsTable", "IdempotencyTable"):
        assert data[logical_id]["DeletionPolicy"] == "Delete", logical_id
