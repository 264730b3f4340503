"""The API host, in its own stack so it can be replaced without touching data or the pipeline."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.config import ApiConfig
from stacks.constructs.api_host import ApiHost
from stacks.constructs.network import Network
from stacks.data_stack import DataRefs


class ApiServerStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ApiConfig,
        network: Network,
        data: DataRefs,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        key = kms.Key.from_key_arn(self, "DataKey", data.key_arn)
        host = ApiHost(
            self,
            "Api",
            config=config,
            vpc=network.vpc,
            subnets=network.private_subnets,
            security_group=network.api_security_group,
            key=key,
            jobs_table=dynamodb.Table.from_table_attributes(
                self,
                "JobsTable",
                table_arn=data.jobs_table_arn,
                encryption_key=key,
                grant_index_permissions=True,
            ),
            input_bucket=s3.Bucket.from_bucket_attributes(
                self,
                "InputBucket",
                bucket_arn=data.input_bucket_arn,
                bucket_name=data.input_bucket_name,
                encryption_key=key,
            ),
            results_bucket=s3.Bucket.from_bucket_attributes(
                self,
                "ResultsBucket",
                bucket_arn=data.results_bucket_arn,
                bucket_name=data.results_bucket_name,
                encryption_key=key,
            ),
        )
        self.api_url = host.url
        self.api_token = host.token
        CfnOutput(self, "ApiUrl", value=host.url, description="Private URL of the API (inside the VPC)")
        CfnOutput(self, "ApiTokenSecretArn", value=host.token.secret_arn)
        CfnOutput(self, "ApiInstanceId", value=host.instance.instance_id)
