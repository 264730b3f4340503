"""Network: VPC, endpoints, flow logs and the security groups shared by jobs, Lambdas and the API host."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.config import NetworkConfig
from stacks.constructs.network import Network


class NetworkStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: NetworkConfig,
        key_arn: str,
        bucket_arns: Sequence[str],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        log_key = kms.Key.from_key_arn(self, "DataKey", key_arn)
        # The buckets are the only ones of this account that the S3 gateway endpoint admits.
        self.network = Network(self, "Network", config=config, log_key=log_key, bucket_arns=bucket_arns)
