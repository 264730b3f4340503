"""What reelsight's Lambdas share: the Powertools layer, where they run, the data they work on, their
log group, and the compliance acknowledgments every one of them needs."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from reelsight import envvars
from reelsight.contract.names import PROCESSING_JOB_PREFIX
from stacks.assets import lambda_code
from stacks.nag import (
    IMPORTED_KEY_REASON,
    IMPORTED_VPC_REASON,
    acknowledge,
    acknowledge_grant_wildcards,
    checkov_skip,
    guard_exception,
)

METRICS_NAMESPACE = "reelsight"
READ_GRANT_ACTIONS = ("kms:GenerateDataKey*", "kms:ReEncrypt*", "s3:GetBucket*", "s3:GetObject*", "s3:List*")
POWERTOOLS_LAYER_ACCOUNT = "017000801446"


@dataclass(frozen=True, kw_only=True)
class FunctionPlacement:
    """Where every reelsight Lambda runs, and the key that encrypts its environment and logs."""

    key: kms.IKey
    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    security_group: ec2.ISecurityGroup


@dataclass(frozen=True, kw_only=True)
class JobStore:
    """The buckets, tables and results topic both Lambdas work on."""

    input_bucket: s3.IBucket
    results_bucket: s3.IBucket
    jobs_table: dynamodb.ITable
    idempotency_table: dynamodb.ITable
    results_topic: sns.ITopic

    def environment(self) -> dict[str, str]:
        return {
            envvars.JOBS_TABLE: self.jobs_table.table_name,
            envvars.IDEMPOTENCY_TABLE: self.idempotency_table.table_name,
            envvars.INPUT_BUCKET: self.input_bucket.bucket_name,
            envvars.RESULTS_BUCKET: self.results_bucket.bucket_name,
            envvars.RESULTS_TOPIC_ARN: self.results_topic.topic_arn,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        }

    def grant_job_records(self, function: lambda_.Function) -> None:
        """Read and write job records (and their idempotency keys) and publish job results."""
        self.jobs_table.grant_read_write_data(function)
        self.idempotency_table.grant_read_write_data(function)
        self.results_topic.grant_publish(function)


@dataclass(frozen=True, kw_only=True)
class FunctionSpec:
    handler: str
    timeout_seconds: int
    environment: dict[str, str]
    description: str
    powertools_layer_version: int


def processing_job_arn() -> str:
    """Every Processing job reelsight starts (their names are generated per video)."""
    return (
        f"arn:{Aws.PARTITION}:sagemaker:{Aws.REGION}:{Aws.ACCOUNT_ID}:processing-job/{PROCESSING_JOB_PREFIX}*"
    )


def powertools_layer(scope: Construct, version: int) -> lambda_.ILayerVersion:
    return lambda_.LayerVersion.from_layer_version_arn(
        scope,
        "Powertools",
        f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:{POWERTOOLS_LAYER_ACCOUNT}:layer:"
        f"AWSLambdaPowertoolsPythonV3-python312-x86_64:{version}",
    )


def create_function(
    scope: Construct,
    function_id: str,
    *,
    log_group_id: str,
    spec: FunctionSpec,
    placement: FunctionPlacement,
) -> tuple[lambda_.Function, logs.LogGroup]:
    """A Python Lambda in the private subnets with its own encrypted log group, both in ``scope``."""
    log_group = logs.LogGroup(
        scope,
        log_group_id,
        retention=logs.RetentionDays.ONE_YEAR,  # Control Tower's CT.CLOUDWATCH.PR.2 minimum
        encryption_key=placement.key,
        removal_policy=RemovalPolicy.DESTROY,
    )
    function = lambda_.Function(
        scope,
        function_id,
        runtime=lambda_.Runtime.PYTHON_3_12,
        architecture=lambda_.Architecture.X86_64,
        handler=spec.handler,
        code=lambda_code(),
        layers=[powertools_layer(scope, spec.powertools_layer_version)],
        timeout=Duration.seconds(spec.timeout_seconds),
        memory_size=512,
        environment=spec.environment,
        environment_encryption=placement.key,
        description=spec.description,
        log_group=log_group,
        vpc=placement.vpc,
        vpc_subnets=placement.subnets,
        security_groups=[placement.security_group],
    )
    guard_exception(log_group, "cloudwatch_log_group_encrypted_check", IMPORTED_KEY_REASON)
    guard_exception(function, "lambda_inside_vpc_check", IMPORTED_VPC_REASON)
    return function, log_group


def acknowledge_function(
    function: lambda_.Function, *, objects_arn: str, jobs_table: dynamodb.ITable
) -> None:
    """The reasoned exceptions of a reelsight Lambda reading ``objects_arn`` and the jobs table."""
    role = function.role
    assert role is not None
    acknowledge_grant_wildcards(
        role,
        actions=READ_GRANT_ACTIONS,
        object_resources=[objects_arn],
        index_resources=[f"{jobs_table.table_arn}/index/*"],
    )
    acknowledge(
        role,
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>"
        f":processing-job/{PROCESSING_JOB_PREFIX}*]",
        "Processing job names are generated per video at run time; the fixed prefix scopes them.",
    )
    _acknowledge_managed_policies(role)
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


def _acknowledge_managed_policies(role: iam.IRole) -> None:
    acknowledge(
        role,
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AWSLambdaBasicExecutionRole]",
        "AWS-maintained policy for writing the function's own CloudWatch Logs.",
    )
    acknowledge(
        role,
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AWSLambdaVPCAccessExecutionRole]",
        "AWS-maintained policy that lets the function create its ENIs in the private subnets.",
    )
