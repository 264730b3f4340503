"""Stateful resources: key, buckets, upload queue, tables. Retained on delete unless configured otherwise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import CfnOutput, CfnResource, Fn, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.config import DataConfig
from stacks.constructs.buckets import DataBuckets
from stacks.constructs.data_key import DataKey
from stacks.constructs.tables import JobTables
from stacks.constructs.upload_queue import UploadQueue
from stacks.nag import acknowledge, checkov_skip, guard_exception

# Logical IDs of the stateful resources never change: a changed ID would replace (and lose) the data.
PINNED_LOGICAL_IDS = {
    "key": "DataKey",
    "input_bucket": "InputBucket",
    "results_bucket": "ResultsBucket",
    "access_log_bucket": "AccessLogBucket",
    "jobs_table": "JobsTable",
    "idempotency_table": "IdempotencyTable",
    "upload_queue": "UploadQueue",
    "upload_dead_letter_queue": "UploadDeadLetterQueue",
}

# CDK's S3 notification handler runs once per deployment, synchronously, from CloudFormation.
HANDLER_CHECKOV_SKIPS = {
    "CKV_AWS_115": "CDK's notification handler runs only during deployments; no concurrency to limit.",
    "CKV_AWS_116": "CDK's notification handler is invoked synchronously by CloudFormation only.",
    "CKV_AWS_117": "CDK's notification handler only calls the S3 API during deployment and needs no VPC.",
}


@dataclass(frozen=True, kw_only=True)
class DataRefs:
    """``Fn::ImportValue`` of the data stack's exports: other stacks never edit these resources."""

    key_arn: str
    input_bucket_name: str
    input_bucket_arn: str
    results_bucket_name: str
    results_bucket_arn: str
    jobs_table_name: str
    jobs_table_arn: str
    idempotency_table_name: str
    idempotency_table_arn: str
    upload_queue_arn: str
    upload_queue_name: str
    upload_dead_letter_queue_name: str

    # Imports for the other stacks, under the same construct ids everywhere.
    def key(self, scope: Construct) -> kms.IKey:
        return kms.Key.from_key_arn(scope, "DataKey", self.key_arn)

    def input_bucket(self, scope: Construct, key: kms.IKey) -> s3.IBucket:
        return s3.Bucket.from_bucket_attributes(
            scope,
            "InputBucket",
            bucket_arn=self.input_bucket_arn,
            bucket_name=self.input_bucket_name,
            encryption_key=key,
        )

    def results_bucket(self, scope: Construct, key: kms.IKey) -> s3.IBucket:
        return s3.Bucket.from_bucket_attributes(
            scope,
            "ResultsBucket",
            bucket_arn=self.results_bucket_arn,
            bucket_name=self.results_bucket_name,
            encryption_key=key,
        )

    def jobs_table(self, scope: Construct, key: kms.IKey) -> dynamodb.ITable:
        return dynamodb.Table.from_table_attributes(
            scope,
            "JobsTable",
            table_arn=self.jobs_table_arn,
            encryption_key=key,
            grant_index_permissions=True,
        )


class DataStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: DataConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        key = DataKey(self, "Encryption", removal_policy=removal).key
        buckets = DataBuckets(self, "Buckets", config=config, key=key, removal_policy=removal)
        uploads = UploadQueue(self, "Uploads", config=config, key=key, input_bucket=buckets.input)
        tables = JobTables(self, "Tables", key=key, removal_policy=removal)

        for construct, logical_id in (
            (key, PINNED_LOGICAL_IDS["key"]),
            (buckets.input, PINNED_LOGICAL_IDS["input_bucket"]),
            (buckets.results, PINNED_LOGICAL_IDS["results_bucket"]),
            (buckets.access_logs, PINNED_LOGICAL_IDS["access_log_bucket"]),
            (tables.jobs, PINNED_LOGICAL_IDS["jobs_table"]),
            (tables.idempotency, PINNED_LOGICAL_IDS["idempotency_table"]),
            (uploads.queue, PINNED_LOGICAL_IDS["upload_queue"]),
            (uploads.dead_letter_queue, PINNED_LOGICAL_IDS["upload_dead_letter_queue"]),
        ):
            resource = construct.node.default_child
            assert isinstance(resource, CfnResource)
            resource.override_logical_id(logical_id)

        self._acknowledge_notifications_handler()
        self.refs = DataRefs(
            key_arn=self._export("DataKeyArn", key.key_arn),
            input_bucket_name=self._export("InputBucketName", buckets.input.bucket_name),
            input_bucket_arn=self._export("InputBucketArn", buckets.input.bucket_arn),
            results_bucket_name=self._export("ResultsBucketName", buckets.results.bucket_name),
            results_bucket_arn=self._export("ResultsBucketArn", buckets.results.bucket_arn),
            jobs_table_name=self._export("JobsTableName", tables.jobs.table_name),
            jobs_table_arn=self._export("JobsTableArn", tables.jobs.table_arn),
            idempotency_table_name=self._export("IdempotencyTableName", tables.idempotency.table_name),
            idempotency_table_arn=self._export("IdempotencyTableArn", tables.idempotency.table_arn),
            upload_queue_arn=self._export("UploadQueueArn", uploads.queue.queue_arn),
            upload_queue_name=self._export("UploadQueueName", uploads.queue.queue_name),
            upload_dead_letter_queue_name=self._export(
                "UploadDeadLetterQueueName", uploads.dead_letter_queue.queue_name
            ),
        )
        CfnOutput(self, "UploadQueueUrl", value=uploads.queue.queue_url)

    def _export(self, name: str, value: str) -> str:
        """Export under a fixed name and hand out the import: the names stay readable and stable."""
        export_name = f"{self.stack_name}-{name}"
        CfnOutput(self, name, value=value, export_name=export_name)
        return Fn.import_value(export_name)

    def _acknowledge_notifications_handler(self) -> None:
        for child in self.node.children:
            if child.node.id.startswith("BucketNotificationsHandler"):
                role = child.node.find_child("Role")
                handler = child.node.default_child
                assert handler is not None
                for check_id, reason in HANDLER_CHECKOV_SKIPS.items():
                    checkov_skip(handler, check_id, reason)
                guard_exception(
                    child,
                    "lambda_inside_vpc_check",
                    "CDK's own deploy-time handler that puts the bucket notification configuration; it "
                    "touches no data and runs only while CloudFormation updates the stack.",
                )
                acknowledge(
                    role,
                    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AWSLambdaBasicExecutionRole]",
                    "CDK's own S3 notification handler writes its logs with this AWS-maintained policy.",
                )
