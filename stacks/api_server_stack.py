"""The API host, in its own stack so it can be replaced without touching data or the pipeline."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
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
        key = data.key(self)
        host = ApiHost(
            self,
            "Api",
            config=config,
            vpc=network.vpc,
            subnets=network.private_subnets,
            security_group=network.api_security_group,
            key=key,
            jobs_table=data.jobs_table(self, key),
            input_bucket=data.input_bucket(self, key),
            results_bucket=data.results_bucket(self, key),
        )
        self.api_url = host.url
        self.api_token = host.token
        self.api_certificate = host.certificate
        CfnOutput(self, "ApiUrl", value=host.url, description="Private URL of the API (inside the VPC)")
        CfnOutput(self, "ApiTokenSecretArn", value=host.token.secret_arn)
        CfnOutput(self, "ApiInstanceId", value=host.instance.instance_id)
        CfnOutput(
            self,
            "ApiCertificateParameter",
            value=host.certificate.parameter_name,
            description="SSM parameter holding the API host's TLS certificate, which clients pin",
        )
