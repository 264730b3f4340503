"""Stateless pipeline: worker image, async endpoint, autoscaling, topics, Lambdas, Processing, monitoring."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import CfnOutput, CfnResource, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct, IConstruct

from reelsight.contract.processing import ProcessingJobDefinition
from stacks.assets import container_image
from stacks.config import EndpointConfig, LambdaConfig, NotificationConfig, ProcessingConfig
from stacks.constructs.dispatcher_function import DispatcherFunction, DispatcherProps
from stacks.constructs.endpoint_autoscaling import EndpointAutoscaling
from stacks.constructs.lambda_function import FunctionPlacement, JobStore
from stacks.constructs.monitoring import Monitoring
from stacks.constructs.network import Network
from stacks.constructs.processing_role import JobNetwork, ProcessingRole
from stacks.constructs.results_function import ResultsFunction, ResultsProps
from stacks.constructs.topics import Topics
from stacks.constructs.worker_endpoint import WorkerEndpoint
from stacks.data_stack import DataRefs

# The logical IDs these resources had when one "Functions" construct built both Lambdas. They never change:
# a changed ID would replace the queue (and lose its messages), the function, or the log group (and its logs).
PINNED_LOGICAL_IDS = {
    "dispatcher_function": "FunctionsDispatcher9716EDF0",
    "dispatcher_log_group": "FunctionsDispatcherLogsCE580B9D",
    "results_function": "FunctionsResults249330AF",
    "results_log_group": "FunctionsResultsLogs9C413DF3",
    "results_queue": "FunctionsResultsQueueE4DD63C0",
    "results_dead_letter_queue": "FunctionsResultsDeadLetterQueue5E0E1F02",
}


@dataclass(frozen=True, kw_only=True)
class PipelineConfig:
    endpoint: EndpointConfig
    processing: ProcessingConfig
    lambdas: LambdaConfig
    notifications: NotificationConfig


@dataclass(frozen=True, kw_only=True)
class _DataImports:
    """The data stack's resources, imported by ARN so that nothing here edits their policies."""

    key: kms.IKey
    input_bucket: s3.IBucket
    results_bucket: s3.IBucket
    jobs_table: dynamodb.ITable
    idempotency_table: dynamodb.ITable
    upload_queue: sqs.IQueue


@dataclass(frozen=True, kw_only=True)
class _Images:
    worker: ecr_assets.DockerImageAsset
    # MXNet/GluonCV models (seed 000's street segmentation, the built-in SSD) run as Processing jobs
    # in their own image: MXNet needs numpy 1.23 and cannot share an environment with torch.
    mxnet: ecr_assets.DockerImageAsset


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
        api_certificate: ssm.IStringParameter | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        imports = self._import_data(data)
        worker_image = container_image(
            self,
            "WorkerImage",
            dockerfile="containers/worker/Dockerfile",
            build_args={"MODEL": config.endpoint.serving_model},
        )
        topics = Topics(self, "Topics", config=config.notifications, key=imports.key)
        worker = self._worker_endpoint(config.endpoint, worker_image, imports, topics)
        self.scaling = EndpointAutoscaling(self, "Scaling", config=config.endpoint, endpoint=worker.endpoint)
        processing = ProcessingRole(
            self,
            "Processing",
            image=worker_image,
            key=imports.key,
            input_bucket=imports.input_bucket,
            results_bucket=imports.results_bucket,
            network=_job_network(network),
            model_artifacts=config.processing.model_artifacts,
        )
        mxnet_image = self._mxnet_image(config.processing, processing.role, api_token)
        images = _Images(worker=worker_image, mxnet=mxnet_image)
        if api_certificate is not None:
            # Processing jobs pin the API host's TLS certificate, which they read from this one parameter.
            processing.role.add_to_principal_policy(
                iam.PolicyStatement(actions=["ssm:GetParameter"], resources=[api_certificate.parameter_arn])
            )
        processing_job = _processing_job_definition(
            config.processing,
            role=processing.role,
            images=images,
            imports=imports,
            network=network,
            api_url=api_url,
            api_token=api_token,
            api_certificate=api_certificate,
        )
        dispatcher, results = self._functions(config, network, imports, topics, worker, processing_job)
        self._pin_logical_ids(dispatcher, results)
        self._monitoring(data, worker, topics, dispatcher, results)
        self._outputs(worker, topics, images, processing.role)

    def _import_data(self, data: DataRefs) -> _DataImports:
        key = data.key(self)
        return _DataImports(
            key=key,
            input_bucket=data.input_bucket(self, key),
            results_bucket=data.results_bucket(self, key),
            jobs_table=data.jobs_table(self, key),
            idempotency_table=dynamodb.Table.from_table_attributes(
                self, "IdempotencyTable", table_arn=data.idempotency_table_arn, encryption_key=key
            ),
            upload_queue=sqs.Queue.from_queue_attributes(
                self, "UploadQueue", queue_arn=data.upload_queue_arn, key_arn=data.key_arn
            ),
        )

    def _worker_endpoint(
        self,
        config: EndpointConfig,
        image: ecr_assets.DockerImageAsset,
        imports: _DataImports,
        topics: Topics,
    ) -> WorkerEndpoint:
        return WorkerEndpoint(
            self,
            "Worker",
            config=config,
            image=image,
            key=imports.key,
            input_bucket=imports.input_bucket,
            results_bucket=imports.results_bucket,
            success_topic=topics.success,
            error_topic=topics.error,
            jobs_table=imports.jobs_table,
        )

    def _mxnet_image(
        self,
        config: ProcessingConfig,
        processing_role: iam.IRole,
        api_token: secretsmanager.ISecret | None,
    ) -> ecr_assets.DockerImageAsset:
        # The baked GluonCV model, and MXNet's CUDA build on GPU instance types (CPU elsewhere).
        image = container_image(
            self,
            "SegmentationImage",
            dockerfile="containers/segmentation/Dockerfile",
            build_args=config.mxnet_image_build_args(),
        )
        image.repository.grant_pull(processing_role)
        if api_token is not None:
            # Processing jobs read the API token to report their progress to the API host.
            api_token.grant_read(processing_role)
        return image

    def _functions(
        self,
        config: PipelineConfig,
        network: Network,
        imports: _DataImports,
        topics: Topics,
        worker: WorkerEndpoint,
        processing_job: ProcessingJobDefinition,
    ) -> tuple[DispatcherFunction, ResultsFunction]:
        placement = FunctionPlacement(
            key=imports.key,
            vpc=network.vpc,
            subnets=network.private_subnets,
            security_group=network.lambda_security_group,
        )
        store = JobStore(
            input_bucket=imports.input_bucket,
            results_bucket=imports.results_bucket,
            jobs_table=imports.jobs_table,
            idempotency_table=imports.idempotency_table,
            results_topic=topics.results,
        )
        # Both units were once one construct, "Functions". Under it the results unit takes the id "Default",
        # which CDK leaves out of logical IDs, so its queues, rule, subscriptions, role and event source
        # mapping keep the IDs they had (the dispatcher's function is its unit's "Default" for the same
        # reason). PINNED_LOGICAL_IDS pins the queues, functions and log groups on top of that.
        functions = Construct(self, "Functions")
        dispatcher = DispatcherFunction(
            functions,
            "Dispatcher",
            props=DispatcherProps(
                config=config.lambdas,
                endpoint=config.endpoint,
                placement=placement,
                store=store,
                upload_queue=imports.upload_queue,
                endpoint_arn=worker.endpoint.ref,
                endpoint_name=worker.endpoint_name,
                processing_job=processing_job,
            ),
        )
        results = ResultsFunction(
            functions,
            "Default",
            props=ResultsProps(
                config=config.lambdas,
                placement=placement,
                store=store,
                outcome_topics=(topics.success, topics.error),
            ),
        )
        return dispatcher, results

    def _pin_logical_ids(self, dispatcher: DispatcherFunction, results: ResultsFunction) -> None:
        pinned: dict[str, IConstruct] = {
            "dispatcher_function": dispatcher.function,
            "dispatcher_log_group": dispatcher.log_group,
            "results_function": results.function,
            "results_log_group": results.log_group,
            "results_queue": results.queue,
            "results_dead_letter_queue": results.dead_letter_queue,
        }
        for name, construct in pinned.items():
            resource = construct.node.default_child
            assert isinstance(resource, CfnResource)
            resource.override_logical_id(PINNED_LOGICAL_IDS[name])

    def _monitoring(
        self,
        data: DataRefs,
        worker: WorkerEndpoint,
        topics: Topics,
        dispatcher: DispatcherFunction,
        results: ResultsFunction,
    ) -> None:
        Monitoring(
            self,
            "Monitoring",
            endpoint_name=worker.endpoint_name,
            ops_topic=topics.ops,
            dead_letter_queue_names={
                "upload DLQ": data.upload_dead_letter_queue_name,
                "results DLQ": results.dead_letter_queue.queue_name,
            },
            functions={"dispatcher": dispatcher.function, "results handler": results.function},
        )

    def _outputs(
        self, worker: WorkerEndpoint, topics: Topics, images: _Images, processing_role: iam.IRole
    ) -> None:
        CfnOutput(self, "EndpointName", value=worker.endpoint_name)
        CfnOutput(self, "ResultsTopicArn", value=topics.results.topic_arn)
        CfnOutput(self, "OpsTopicArn", value=topics.ops.topic_arn)
        CfnOutput(self, "WorkerImageUri", value=images.worker.image_uri)
        CfnOutput(self, "SegmentationImageUri", value=images.mxnet.image_uri)
        CfnOutput(self, "ProcessingRoleArn", value=processing_role.role_arn)


def _job_network(network: Network) -> JobNetwork:
    """The VPC, subnets and security group every Processing job runs in (also in its definition below)."""
    return JobNetwork(
        vpc_id=network.vpc.vpc_id,
        subnet_ids=network.vpc.select_subnets(subnet_type=network.private_subnet_type).subnet_ids,
        security_group_id=network.processing_security_group.security_group_id,
    )


def _processing_job_definition(
    config: ProcessingConfig,
    *,
    role: iam.IRole,
    images: _Images,
    imports: _DataImports,
    network: Network,
    api_url: str | None,
    api_token: secretsmanager.ISecret | None,
    api_certificate: ssm.IStringParameter | None = None,
) -> ProcessingJobDefinition:
    """The static part of every Processing job the dispatcher starts, from the stack's configuration."""
    private_subnets = network.vpc.select_subnets(subnet_type=network.private_subnet_type)
    return ProcessingJobDefinition(
        role_arn=role.role_arn,
        image_uri=images.worker.image_uri,
        mxnet_image_uri=images.mxnet.image_uri,
        instance_type=config.instance_type,
        instance_count=config.instance_count,
        volume_size_gb=config.volume_size_gb,
        max_runtime_seconds=config.max_runtime_seconds,
        results_bucket=imports.results_bucket.bucket_name,
        kms_key_arn=imports.key.key_arn,
        subnet_ids=tuple(private_subnets.subnet_ids),
        security_group_ids=(network.processing_security_group.security_group_id,),
        api_url=api_url,
        api_token_secret_arn=api_token.secret_arn if api_token is not None else None,
        api_certificate_parameter=api_certificate.parameter_name if api_certificate is not None else None,
        prices=config.prices or None,
    )
