"""Stateless pipeline: worker image, async endpoint, autoscaling, topics, Lambdas, Processing, monitoring."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.assets import container_image
from stacks.config import EndpointConfig, LambdaConfig, NotificationConfig, ProcessingConfig
from stacks.constructs.endpoint_autoscaling import EndpointAutoscaling
from stacks.constructs.functions import FunctionInputs, Functions
from stacks.constructs.monitoring import Monitoring
from stacks.constructs.network import Network
from stacks.constructs.processing_role import ProcessingRole
from stacks.constructs.topics import Topics
from stacks.constructs.worker_endpoint import WorkerEndpoint
from stacks.data_stack import DataRefs
from stacks.nag import acknowledge


@dataclass(frozen=True, kw_only=True)
class PipelineConfig:
    endpoint: EndpointConfig
    processing: ProcessingConfig
    lambdas: LambdaConfig
    notifications: NotificationConfig


class PipelineStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        network: Network,
        data: DataRefs,
        api_url: str | None,
        api_token: secretsmanager.ISecret | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # Imported by ARN so that nothing here edits the data stack's key policy or bucket policies.
        key = data.key(self)
        input_bucket = data.input_bucket(self, key)
        results_bucket = data.results_bucket(self, key)
        jobs_table = data.jobs_table(self, key)
        idempotency_table = dynamodb.Table.from_table_attributes(
            self, "IdempotencyTable", table_arn=data.idempotency_table_arn, encryption_key=key
        )
        upload_queue = sqs.Queue.from_queue_attributes(
            self, "UploadQueue", queue_arn=data.upload_queue_arn, key_arn=data.key_arn
        )

        image = container_image(
            self,
            "WorkerImage",
            dockerfile="containers/worker/Dockerfile",
            build_args={"MODEL": config.endpoint.model},
        )
        topics = Topics(self, "Topics", config=config.notifications, key=key)
        worker = WorkerEndpoint(
            self,
            "Worker",
            config=config.endpoint,
            image=image,
            key=key,
            input_bucket=input_bucket,
            results_bucket=results_bucket,
            success_topic=topics.success,
            error_topic=topics.error,
        )
        scaling = EndpointAutoscaling(self, "Scaling", config=config.endpoint, endpoint=worker.endpoint)
        processing = ProcessingRole(
            self,
            "Processing",
            image=image,
            key=key,
            input_bucket=input_bucket,
            results_bucket=results_bucket,
        )
        # MXNet/GluonCV models (seed 000's street segmentation, the built-in SSD) run as Processing jobs
        # in their own image: MXNet needs numpy 1.23 and cannot share an environment with torch.
        mxnet_image = container_image(
            self,
            "SegmentationImage",
            dockerfile="containers/segmentation/Dockerfile",
            build_args={"MODEL": "deeplab_resnet101_citys"},
        )
        mxnet_image.repository.grant_pull(processing.role)
        if api_token is not None:
            # Processing jobs read the API token to report their progress to the API host.
            api_token.grant_read(processing.role)
        subnet_ids = network.vpc.select_subnets(subnet_type=network.private_subnet_type).subnet_ids
        functions = Functions(
            self,
            "Functions",
            config=config.lambdas,
            endpoint=config.endpoint,
            processing=config.processing,
            inputs=FunctionInputs(
                key=key,
                vpc=network.vpc,
                subnets=network.private_subnets,
                security_group=network.lambda_security_group,
                input_bucket=input_bucket,
                results_bucket=results_bucket,
                jobs_table=jobs_table,
                idempotency_table=idempotency_table,
                upload_queue=upload_queue,
                success_topic=topics.success,
                error_topic=topics.error,
                results_topic=topics.results,
                endpoint_arn=worker.endpoint.ref,
                endpoint_name=worker.endpoint_name,
                processing_role=processing.role,
                processing_image_uri=image.image_uri,
                processing_mxnet_image_uri=mxnet_image.image_uri,
                processing_security_group_ids=[network.processing_security_group.security_group_id],
                processing_subnet_ids=subnet_ids,
                api_url=api_url,
                api_token_secret_arn=api_token.secret_arn if api_token is not None else None,
            ),
        )
        Monitoring(
            self,
            "Monitoring",
            endpoint_name=worker.endpoint_name,
            ops_topic=topics.ops,
            dead_letter_queue_names={
                "upload DLQ": data.upload_dead_letter_queue_name,
                "results DLQ": functions.results_dead_letter_queue.queue_name,
            },
            functions={"dispatcher": functions.dispatcher, "results handler": functions.results},
        )
        self.scaling = scaling
        self._acknowledge(functions)

        CfnOutput(self, "EndpointName", value=worker.endpoint_name)
        CfnOutput(self, "ResultsTopicArn", value=topics.results.topic_arn)
        CfnOutput(self, "OpsTopicArn", value=topics.ops.topic_arn)
        CfnOutput(self, "WorkerImageUri", value=image.image_uri)
        CfnOutput(self, "SegmentationImageUri", value=mxnet_image.image_uri)
        CfnOutput(self, "ProcessingRoleArn", value=processing.role.role_arn)

    def _acknowledge(self, functions: Functions) -> None:
        for function in (functions.dispatcher, functions.results):
            role = function.role
            assert role is not None
            acknowledge(
                role,
                (
                    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AWSLambdaBasicExecutionRole]"
                ),
                "AWS-maintained policy for writing the function's own CloudWatch Logs.",
            )
            acknowledge(
                role,
                (
                    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AWSLambdaVPCAccessExecutionRole]"
                ),
                "AWS-maintained policy that lets the function create its ENIs in the private subnets.",
            )
