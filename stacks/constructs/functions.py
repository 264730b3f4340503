"""The dispatcher and results Lambdas with their queues, event sources and grants."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from reelsight import envvars
from stacks.assets import lambda_code
from stacks.config import (
    BATCH_PREFIX,
    PROCESSING_JOB_PREFIX,
    UPLOAD_PREFIX,
    VIDEO_SUFFIXES,
    EndpointConfig,
    LambdaConfig,
    ProcessingConfig,
)
from stacks.nag import acknowledge, acknowledge_grant_wildcards, checkov_skip
from stacks.tagging import role_tag

DISPATCH_HANDLER = "lambdas.dispatch.handler.lambda_handler"
RESULTS_HANDLER = "lambdas.results.handler.lambda_handler"
METRICS_NAMESPACE = "reelsight"
PROCESSING_STATE_CHANGE = "SageMaker Processing Job State Change"
READ_GRANT_ACTIONS = ("kms:GenerateDataKey*", "kms:ReEncrypt*", "s3:GetBucket*", "s3:GetObject*", "s3:List*")


@dataclass(frozen=True, kw_only=True)
class FunctionInputs:
    """Everything the two functions are wired to."""

    key: kms.IKey
    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    security_group: ec2.ISecurityGroup
    input_bucket: s3.IBucket
    results_bucket: s3.IBucket
    jobs_table: dynamodb.ITable
    idempotency_table: dynamodb.ITable
    upload_queue: sqs.IQueue
    success_topic: sns.ITopic
    error_topic: sns.ITopic
    results_topic: sns.ITopic
    endpoint_arn: str
    endpoint_name: str
    processing_role: iam.IRole
    processing_image_uri: str
    processing_mxnet_image_uri: str | None = None
    processing_security_group_ids: list[str]
    processing_subnet_ids: list[str]
    api_url: str | None
    api_token_secret_arn: str | None = None


class Functions(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: LambdaConfig,
        endpoint: EndpointConfig,
        processing: ProcessingConfig,
        inputs: FunctionInputs,
    ) -> None:
        super().__init__(scope, construct_id)
        self._inputs = inputs
        self._layer = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "Powertools",
            f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:017000801446:layer:"
            f"AWSLambdaPowertoolsPythonV3-python312-x86_64:{config.powertools_layer_version}",
        )
        self._code = lambda_code()
        common_env = {
            envvars.JOBS_TABLE: inputs.jobs_table.table_name,
            envvars.IDEMPOTENCY_TABLE: inputs.idempotency_table.table_name,
            envvars.INPUT_BUCKET: inputs.input_bucket.bucket_name,
            envvars.RESULTS_BUCKET: inputs.results_bucket.bucket_name,
            envvars.KMS_KEY_ARN: inputs.key.key_arn,
            envvars.RESULTS_TOPIC_ARN: inputs.results_topic.topic_arn,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        }
        dispatch_env = {
            **common_env,
            envvars.UPLOAD_PREFIX: UPLOAD_PREFIX,
            envvars.BATCH_PREFIX: BATCH_PREFIX,
            envvars.VIDEO_SUFFIXES: ",".join(VIDEO_SUFFIXES),
            envvars.ENDPOINT_NAME: inputs.endpoint_name,
            envvars.ASYNC_MAX_BYTES: str(endpoint.async_max_bytes),
            envvars.INVOCATION_TIMEOUT_SECONDS: str(endpoint.invocation_timeout_seconds),
            envvars.REQUEST_TTL_SECONDS: str(endpoint.request_ttl_seconds),
            envvars.PROCESSING_ROLE_ARN: inputs.processing_role.role_arn,
            envvars.PROCESSING_IMAGE_URI: inputs.processing_image_uri,
            envvars.PROCESSING_INSTANCE_TYPE: processing.instance_type,
            envvars.PROCESSING_INSTANCE_COUNT: str(processing.instance_count),
            envvars.PROCESSING_SUBNET_IDS: ",".join(inputs.processing_subnet_ids),
            envvars.PROCESSING_SECURITY_GROUP_IDS: ",".join(inputs.processing_security_group_ids),
            "POWERTOOLS_SERVICE_NAME": "reelsight-dispatch",
        }
        if inputs.processing_mxnet_image_uri:
            dispatch_env[envvars.MXNET_IMAGE_URI] = inputs.processing_mxnet_image_uri
        if inputs.api_url:
            dispatch_env[envvars.API_URL] = inputs.api_url
        if inputs.api_token_secret_arn:
            dispatch_env[envvars.API_TOKEN_SECRET_ARN] = inputs.api_token_secret_arn

        self.dispatcher = self._function(
            "Dispatcher",
            handler=DISPATCH_HANDLER,
            timeout=config.dispatcher_timeout_seconds,
            environment=dispatch_env,
            description="Starts an async inference or a Processing job for each uploaded video",
        )
        self.dispatcher.add_event_source(
            event_sources.SqsEventSource(
                inputs.upload_queue,
                batch_size=config.batch_size,
                max_batching_window=Duration.seconds(5),
                report_batch_item_failures=True,
                max_concurrency=config.max_concurrency,
            )
        )
        inputs.input_bucket.grant_read(self.dispatcher)
        inputs.jobs_table.grant_read_write_data(self.dispatcher)
        inputs.idempotency_table.grant_read_write_data(self.dispatcher)
        inputs.results_topic.grant_publish(self.dispatcher)
        self.dispatcher.add_to_role_policy(
            iam.PolicyStatement(
                sid="InvokeAsyncEndpoint",
                actions=["sagemaker:InvokeEndpointAsync"],
                resources=[inputs.endpoint_arn],
            )
        )
        processing_job_arn = (
            f"arn:{Aws.PARTITION}:sagemaker:{Aws.REGION}:{Aws.ACCOUNT_ID}"
            f":processing-job/{PROCESSING_JOB_PREFIX}*"
        )
        self.dispatcher.add_to_role_policy(
            iam.PolicyStatement(
                sid="StartProcessingJobs",
                actions=[
                    "sagemaker:CreateProcessingJob",
                    "sagemaker:AddTags",
                    "sagemaker:DescribeProcessingJob",
                ],
                resources=[processing_job_arn],
            )
        )
        self.dispatcher.add_to_role_policy(
            iam.PolicyStatement(
                sid="PassProcessingRole",
                actions=["iam:PassRole"],
                resources=[inputs.processing_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )

        self.results_dead_letter_queue = sqs.Queue(
            self,
            "ResultsDeadLetterQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=inputs.key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.results_queue = sqs.Queue(
            self,
            "ResultsQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=inputs.key,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(6 * config.results_timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.results_dead_letter_queue, max_receive_count=5),
        )
        for topic in (inputs.success_topic, inputs.error_topic):
            topic.add_subscription(
                subscriptions.SqsSubscription(self.results_queue, raw_message_delivery=False)
            )
        self.processing_rule = events.Rule(
            self,
            "ProcessingStateChange",
            description="Processing jobs started by reelsight change state",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[PROCESSING_STATE_CHANGE],
                detail={"ProcessingJobName": [{"prefix": PROCESSING_JOB_PREFIX}]},
            ),
            targets=[targets.SqsQueue(self.results_queue)],
        )

        self.results = self._function(
            "Results",
            handler=RESULTS_HANDLER,
            timeout=config.results_timeout_seconds,
            environment={**common_env, "POWERTOOLS_SERVICE_NAME": "reelsight-results"},
            description="Records async and Processing outcomes and notifies users",
        )
        self.results.add_event_source(
            event_sources.SqsEventSource(
                self.results_queue,
                batch_size=config.batch_size,
                report_batch_item_failures=True,
                max_concurrency=config.max_concurrency,
            )
        )
        inputs.results_bucket.grant_read(self.results)
        inputs.jobs_table.grant_read_write_data(self.results)
        inputs.idempotency_table.grant_read_write_data(self.results)
        inputs.results_topic.grant_publish(self.results)
        self.results.add_to_role_policy(
            iam.PolicyStatement(
                sid="DescribeProcessingJobs",
                actions=["sagemaker:DescribeProcessingJob"],
                resources=[processing_job_arn],
            )
        )
        self._acknowledge(self.dispatcher, inputs.input_bucket.arn_for_objects("*"))
        self._acknowledge(self.results, inputs.results_bucket.arn_for_objects("*"))
        role_tag(self.dispatcher, "dispatch-function")
        role_tag(self.results, "results-function")
        role_tag(self.results_queue, "results-queue")
        role_tag(self.results_dead_letter_queue, "results-dead-letter-queue")
        role_tag(self.processing_rule, "processing-state-rule")

    def _function(
        self, name: str, *, handler: str, timeout: int, environment: dict[str, str], description: str
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            self,
            f"{name}Logs",
            retention=logs.RetentionDays.THREE_MONTHS,
            encryption_key=self._inputs.key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        return lambda_.Function(
            self,
            name,
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.X86_64,
            handler=handler,
            code=self._code,
            layers=[self._layer],
            timeout=Duration.seconds(timeout),
            memory_size=512,
            environment=environment,
            environment_encryption=self._inputs.key,
            description=description,
            log_group=log_group,
            vpc=self._inputs.vpc,
            vpc_subnets=self._inputs.subnets,
            security_groups=[self._inputs.security_group],
        )

    def _acknowledge(self, function: lambda_.Function, objects_arn: str) -> None:
        role = function.role
        assert role is not None
        acknowledge_grant_wildcards(
            role,
            actions=READ_GRANT_ACTIONS,
            object_resources=[objects_arn],
            index_resources=[f"{self._inputs.jobs_table.table_arn}/index/*"],
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>"
            f":processing-job/{PROCESSING_JOB_PREFIX}*]",
            "Processing job names are generated per video at run time; the fixed prefix scopes them.",
        )
        checkov_skip(
            function,
            "CKV_AWS_116",
            "Invoked by SQS event source mappings only; failed messages go to the queue's dead-letter queue.",
        )
        checkov_skip(
            function,
            "CKV_AWS_115",
            "Concurrency is bounded by the event source's maximum concurrency; reserving concurrency would "
            "fail deployment in accounts with the default concurrency quota.",
        )
        acknowledge(
            function,
            "AwsSolutions-L1",
            "Pinned to python3.12 to match the Powertools layer build "
            "(AWSLambdaPowertoolsPythonV3-python312); "
            "runtime and layer are upgraded together.",
        )
