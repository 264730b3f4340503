"""VPC with private subnets, endpoints for everything the jobs call, flow logs and security groups."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import API_PORT, NetworkConfig
from stacks.nag import acknowledge
from stacks.tagging import role_tag

INTERFACE_ENDPOINTS: dict[str, ec2.InterfaceVpcEndpointAwsService] = {
    "SageMakerApi": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_API,
    "SageMakerRuntime": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_RUNTIME,
    "Sts": ec2.InterfaceVpcEndpointAwsService.STS,
    "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
    "EcrApi": ec2.InterfaceVpcEndpointAwsService.ECR,
    "EcrDocker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
    "Sns": ec2.InterfaceVpcEndpointAwsService.SNS,
    "Sqs": ec2.InterfaceVpcEndpointAwsService.SQS,
    "Ssm": ec2.InterfaceVpcEndpointAwsService.SSM,
    "SsmMessages": ec2.InterfaceVpcEndpointAwsService.SSM_MESSAGES,
    "Ec2Messages": ec2.InterfaceVpcEndpointAwsService.EC2_MESSAGES,
    "SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
}


class Network(Construct):
    """Private network: no internet path unless NAT gateways are configured."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: NetworkConfig, log_key: kms.IKey
    ) -> None:
        super().__init__(scope, construct_id)
        subnets = _subnet_configuration(config)
        self.private_subnet_type = subnets[-1].subnet_type

        self.flow_log_group = logs.LogGroup(
            self,
            "FlowLogs",
            retention=logs.RetentionDays.ONE_YEAR,
            encryption_key=log_key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.vpc = self._vpc(config, subnets=subnets, flow_log_group=self.flow_log_group)
        self.private_subnets = ec2.SubnetSelection(subnet_type=self.private_subnet_type)
        self._add_interface_endpoints()

        self.processing_security_group = self._security_group(
            "ProcessingSecurityGroup", "SageMaker Processing jobs (instances talk to each other)"
        )
        self.processing_security_group.add_ingress_rule(
            self.processing_security_group, ec2.Port.all_traffic(), "Processing instances of one job"
        )
        self.lambda_security_group = self._security_group("LambdaSecurityGroup", "reelsight Lambda functions")
        self.api_security_group = self._security_group(
            "ApiSecurityGroup", "reelsight API host: port 8000 from jobs and Lambdas only"
        )
        for peer, label in (
            (self.processing_security_group, "Processing jobs"),
            (self.lambda_security_group, "Lambda functions"),
        ):
            self.api_security_group.add_ingress_rule(peer, ec2.Port.tcp(API_PORT), f"API from {label}")
        role_tag(self.processing_security_group, "processing-security-group")
        role_tag(self.lambda_security_group, "lambda-security-group")
        role_tag(self.api_security_group, "api-security-group")

    def _vpc(
        self,
        config: NetworkConfig,
        *,
        subnets: list[ec2.SubnetConfiguration],
        flow_log_group: logs.ILogGroup,
    ) -> ec2.Vpc:
        return ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr("10.40.0.0/16"),
            max_azs=config.max_azs,
            nat_gateways=config.nat_gateways,
            subnet_configuration=subnets,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            restrict_default_security_group=False,
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
                "DynamoDb": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.DYNAMODB),
            },
            flow_logs={
                "All": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )

    def _add_interface_endpoints(self) -> None:
        """The INTERFACE_ENDPOINTS in the private subnets, behind one HTTPS-from-the-VPC security group."""
        endpoint_sg = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=self.vpc,
            description="HTTPS from inside the VPC to the interface endpoints",
            allow_all_outbound=False,
        )
        endpoint_sg.add_ingress_rule(
            ec2.Peer.ipv4(self.vpc.vpc_cidr_block), ec2.Port.tcp(443), "HTTPS from the VPC"
        )
        acknowledge(
            endpoint_sg,
            "AwsSolutions-EC23",
            "Ingress is HTTPS from the VPC's own CIDR block only; cdk-nag cannot see the tokenized CIDR.",
        )
        for name, service in INTERFACE_ENDPOINTS.items():
            self.vpc.add_interface_endpoint(
                name,
                service=service,
                subnets=self.private_subnets,
                private_dns_enabled=True,
                security_groups=[endpoint_sg],
            )

    def _security_group(self, construct_id: str, description: str) -> ec2.SecurityGroup:
        return ec2.SecurityGroup(
            self, construct_id, vpc=self.vpc, description=description, allow_all_outbound=True
        )


def _subnet_configuration(config: NetworkConfig) -> list[ec2.SubnetConfiguration]:
    """One private subnet group (with egress only through NAT gateways, if any), plus public ones for them."""
    subnets = [
        ec2.SubnetConfiguration(
            name="Private",
            subnet_type=(
                ec2.SubnetType.PRIVATE_WITH_EGRESS if config.nat_gateways else ec2.SubnetType.PRIVATE_ISOLATED
            ),
            cidr_mask=20,
        )
    ]
    if config.nat_gateways:
        subnets.insert(0, ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC))
    return subnets
