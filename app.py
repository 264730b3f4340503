#!/usr/bin/env python3
"""reelsight CDK app: the only place that reads the CDK context and the environment."""

from __future__ import annotations

import os

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.api_server_stack import ApiServerStack
from stacks.config import AppConfig, api_url, config_from_context, mxnet_variant
from stacks.data_stack import DataStack
from stacks.nag import control_tower_validator
from stacks.network_stack import NetworkStack
from stacks.pipeline_stack import PipelineConfig, PipelineStack

STACK_IDS = ("ReelsightData", "ReelsightNetwork", "ReelsightApi", "ReelsightPipeline")
# Stack-level tags (CloudFormation propagates them to what it creates); resources get them too, below.
PROJECT_TAGS = {"project": "reelsight"}


def build_app(app: cdk.App, *, config: AppConfig | None = None, nag: bool = True) -> dict[str, cdk.Stack]:
    """Add reelsight's stacks (and the cdk-nag and cfn-guard validators) to ``app``."""
    config = config or config_from_context(app.node.try_get_context)
    env = _environment()
    data = DataStack(
        app,
        "ReelsightData",
        config=config.data,
        env=env,
        tags=PROJECT_TAGS,
        description="reelsight stateful resources: key, buckets, upload queue, tables",
    )
    network = NetworkStack(
        app,
        "ReelsightNetwork",
        config=config.network,
        key_arn=data.refs.key_arn,
        bucket_arns=(data.refs.input_bucket_arn, data.refs.results_bucket_arn),
        env=env,
        tags=PROJECT_TAGS,
        description="reelsight network: private VPC, endpoints, flow logs, security groups",
    )
    api = ApiServerStack(
        app,
        "ReelsightApi",
        config=config.api,
        network=network.network,
        data=data.refs,
        env=env,
        tags=PROJECT_TAGS,
        description="reelsight API host",
    )
    pipeline = PipelineStack(
        app,
        "ReelsightPipeline",
        config=PipelineConfig(
            endpoint=config.endpoint,
            processing=config.processing,
            lambdas=config.lambdas,
            notifications=config.notifications,
        ),
        network=network.network,
        data=data.refs,
        api_url=api_url(config.api),
        api_token=api.api_token,
        api_certificate=api.api_certificate,
        env=env,
        tags=PROJECT_TAGS,
        description="reelsight pipeline: async endpoint, autoscaling, topics, Lambdas, monitoring",
    )
    _note_models(pipeline, config)
    # The data stack is referenced through named exports, so the order is declared here.
    for dependent in (network, api, pipeline):
        dependent.add_stack_dependency(data)
    cdk.Tags.of(app).add("project", "reelsight")
    if nag:
        # cdk-nag's AwsSolutions checks and cfn-guard's AWS Control Tower rules (stacks/nag.py).
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), control_tower_validator())
    return {stack.stack_name: stack for stack in (data, network, api, pipeline)}


def _note_models(stack: cdk.Stack, config: AppConfig) -> None:
    """Say in the synth output which model each route runs when the endpoint's differs from `model`."""
    endpoint, processing = config.endpoint, config.processing
    if endpoint.serving_model == endpoint.model:  # a torchvision `model` is served as it is
        return
    cdk.Annotations.of(stack).add_info(
        f"model {endpoint.model}: Processing jobs run it in the MXNet image (weights of "
        f"{processing.mxnet_model} baked, MXNet build {mxnet_variant(processing.instance_type)}); the async "
        f"endpoint serves {endpoint.serving_model} (context endpointModel) for uploads that name a "
        "torchvision model"
    )


def _environment() -> cdk.Environment | None:
    """Pinned only when both values are given; otherwise the templates stay environment-agnostic."""
    account = os.environ.get("REELSIGHT_DEPLOY_ACCOUNT")
    region = os.environ.get("REELSIGHT_DEPLOY_REGION")
    return cdk.Environment(account=account, region=region) if account and region else None


if __name__ == "__main__":
    application = cdk.App()
    build_app(application, nag=application.node.try_get_context("nag") not in (False, "false"))
    application.synth()
