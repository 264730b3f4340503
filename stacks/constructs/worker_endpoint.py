"""SageMaker asynchronous endpoint running the worker image: model, endpoint config, endpoint and its role."""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from reelsight import envvars
from reelsight.contract.names import (
    ASYNC_FAILURE_PATH,
    ASYNC_OUTPUT_PATH,
    JOBS_PREFIX,
    WATCHED_PREFIXES,
    s3_uri,
)
from stacks.config import ENDPOINT_VARIANT, EndpointConfig
from stacks.constructs.model_artifacts import grant_model_artifacts
from stacks.grants import acknowledge_prefixes, add_statements, read_objects, write_objects
from stacks.nag import acknowledge, acknowledge_grant_wildcards, checkov_skip
from stacks.tagging import role_tag

# What key.grant_encrypt_decrypt leaves as action groups (the buckets get exact actions, stacks/grants.py).
KEY_GRANT_ACTIONS = ("kms:GenerateDataKey*", "kms:ReEncrypt*")
# SageMaker reads the request (the uploaded video) from the input location the dispatcher passes.
INPUT_PREFIXES = WATCHED_PREFIXES
# The worker uploads artifacts under jobs/; SageMaker writes the answer and failure bodies under async/.
ENDPOINT_WRITE_PREFIXES = (JOBS_PREFIX, f"{ASYNC_OUTPUT_PATH}/", f"{ASYNC_FAILURE_PATH}/")


class WorkerEndpoint(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EndpointConfig,
        image: ecr_assets.DockerImageAsset,
        key: kms.IKey,
        input_bucket: s3.IBucket,
        results_bucket: s3.IBucket,
        success_topic: sns.ITopic,
        error_topic: sns.ITopic,
        jobs_table: dynamodb.ITable,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = self._role(
            image=image,
            key=key,
            input_bucket=input_bucket,
            results_bucket=results_bucket,
            success_topic=success_topic,
            error_topic=error_topic,
        )
        # RUNNING and progress (JobsTable.transition/record_progress): read and update the one item,
        # on the table only (no index, no scan, no put). Its KMS key is granted above.
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:UpdateItem"], resources=[jobs_table.table_arn]
            )
        )
        # weights=s3://... from a training job, read where it lies (the modelArtifacts context).
        grant_model_artifacts(self.role, config.model_artifacts)
        self.model = self._model(
            config, role=self.role, image=image, results_bucket=results_bucket, jobs_table=jobs_table
        )
        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            # No volume KmsKeyId: GPU instances such as ml.g4dn/ml.g5 carry local NVMe storage, which is
            # encrypted by the instance hardware, and CreateEndpointConfig rejects a key for them.
            production_variants=[_production_variant(config, self.model)],
            async_inference_config=_async_inference_config(
                config,
                key=key,
                results_bucket=results_bucket,
                success_topic=success_topic,
                error_topic=error_topic,
            ),
        )
        self.endpoint = sagemaker.CfnEndpoint(
            self, "Endpoint", endpoint_config_name=self.endpoint_config.attr_endpoint_config_name
        )
        self.endpoint_name = self.endpoint.attr_endpoint_name
        self._acknowledge_and_tag(input_bucket=input_bucket, results_bucket=results_bucket)

    def _role(
        self,
        *,
        image: ecr_assets.DockerImageAsset,
        key: kms.IKey,
        input_bucket: s3.IBucket,
        results_bucket: s3.IBucket,
        success_topic: sns.ITopic,
        error_topic: sns.ITopic,
    ) -> iam.Role:
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="reelsight async endpoint: pull the worker image, read videos, write results",
        )
        image.repository.grant_pull(role)
        # Read videos, write results; never list or delete (stacks/grants.py).
        add_statements(
            role,
            [
                read_objects("ReadVideos", input_bucket, INPUT_PREFIXES),
                write_objects("WriteResults", results_bucket, ENDPOINT_WRITE_PREFIXES),
            ],
        )
        success_topic.grant_publish(role)
        error_topic.grant_publish(role)
        key.grant_encrypt_decrypt(role)
        # SageMaker checks the output KmsKeyId with the role before it encrypts with it.
        key.grant(role, "kms:DescribeKey")
        for statement in _endpoint_logs_policy():
            role.add_to_policy(statement)
        return role

    def _model(
        self,
        config: EndpointConfig,
        *,
        role: iam.Role,
        image: ecr_assets.DockerImageAsset,
        results_bucket: s3.IBucket,
        jobs_table: dynamodb.ITable,
    ) -> sagemaker.CfnModel:
        model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=image.image_uri,
                environment={
                    **config.serving_defaults(),
                    envvars.MAX_CONCURRENCY: str(config.max_concurrent_invocations),
                    envvars.ARTIFACT_BUCKET: results_bucket.bucket_name,
                    envvars.ARTIFACT_PREFIX: JOBS_PREFIX,
                    envvars.JOBS_TABLE: jobs_table.table_name,  # RUNNING and progress
                    envvars.INSTANCE_TYPE: config.instance_type,  # for the cost receipt
                    **({envvars.PRICES: config.prices} if config.prices else {}),
                },
            ),
        )
        model.node.add_dependency(role)
        return model

    def _acknowledge_and_tag(self, *, input_bucket: s3.IBucket, results_bucket: s3.IBucket) -> None:
        acknowledge_grant_wildcards(self.role, actions=KEY_GRANT_ACTIONS)
        acknowledge_prefixes(self.role, input_bucket, INPUT_PREFIXES)
        acknowledge_prefixes(self.role, results_bucket, ENDPOINT_WRITE_PREFIXES)
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>"
            ":log-group:/aws/sagemaker/Endpoints/*]",
            "SageMaker names the endpoint's log group after the generated endpoint name at deploy time.",
        )
        checkov_skip(
            self.model,
            "CKV_AWS_370",
            "The worker uploads its artifacts (contact sheet, preview, frames) to the results bucket itself, "
            "which network isolation would block.",
        )
        role_tag(self.model, "worker-model")
        role_tag(self.endpoint_config, "async-endpoint-config")
        role_tag(self.endpoint, "async-endpoint")
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken has no resource-level permissions, and cloudwatch:PutMetricData "
            "is limited by the cloudwatch:namespace condition instead.",
        )


def _endpoint_logs_policy() -> list[iam.PolicyStatement]:
    """The endpoint's metrics (one namespace) and its log groups (named after the endpoint at deploy time)."""
    return [
        iam.PolicyStatement(
            sid="EndpointLogsAndMetrics",
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/Endpoints"}},
        ),
        iam.PolicyStatement(
            sid="EndpointLogs",
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[
                f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:/aws/sagemaker/Endpoints/*"
            ],
        ),
    ]


def _production_variant(
    config: EndpointConfig, model: sagemaker.CfnModel
) -> sagemaker.CfnEndpointConfig.ProductionVariantProperty:
    return sagemaker.CfnEndpointConfig.ProductionVariantProperty(
        variant_name=ENDPOINT_VARIANT,
        model_name=model.attr_model_name,
        instance_type=config.instance_type,
        initial_instance_count=1,
        initial_variant_weight=1.0,
    )


def _async_inference_config(
    config: EndpointConfig,
    *,
    key: kms.IKey,
    results_bucket: s3.IBucket,
    success_topic: sns.ITopic,
    error_topic: sns.ITopic,
) -> sagemaker.CfnEndpointConfig.AsyncInferenceConfigProperty:
    """Results and failures to the results bucket (encrypted with ``key``), notifications to the topics."""
    return sagemaker.CfnEndpointConfig.AsyncInferenceConfigProperty(
        output_config=sagemaker.CfnEndpointConfig.AsyncInferenceOutputConfigProperty(
            s3_output_path=s3_uri(results_bucket.bucket_name, ASYNC_OUTPUT_PATH),
            s3_failure_path=s3_uri(results_bucket.bucket_name, ASYNC_FAILURE_PATH),
            kms_key_id=key.key_arn,
            notification_config=sagemaker.CfnEndpointConfig.AsyncInferenceNotificationConfigProperty(
                success_topic=success_topic.topic_arn,
                error_topic=error_topic.topic_arn,
                include_inference_response_in=["SUCCESS_NOTIFICATION_TOPIC"],
            ),
        ),
        client_config=sagemaker.CfnEndpointConfig.AsyncInferenceClientConfigProperty(
            max_concurrent_invocations_per_instance=config.max_concurrent_invocations
        ),
    )
