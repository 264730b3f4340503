"""VPC with private subnets, endpoints for everything the jobs call, flow logs and security groups."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import API_PORT, ModelArtifacts, NetworkConfig
from stacks.constructs.model_artifacts import bucket_arn, objects_arn
from stacks.nag import IMPORTED_KEY_REASON, acknowledge, guard_exception
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


# What the API host's boot calls with no NAT: ECR (the image: auth, manifests), Session Manager, its token,
# and its certificate parameter; packages and image layers come from S3 (S3_BOOT_BUCKETS).
API_HOST_ENDPOINTS = ("EcrApi", "EcrDocker", "Ssm", "SsmMessages", "Ec2Messages", "SecretsManager")

# AWS-owned buckets reached through the S3 gateway endpoint, each read with s3:GetObject alone:
# - the Amazon Linux 2023 package repositories, which dnf reads at boot (AL2023 user guide, "Package
#   repositories" / S3 gateway endpoints: al2023-repos-<region>-de612dc2);
# - ECR's image layers, which ECR serves from this bucket (ECR user guide, "Amazon ECR interface VPC
#   endpoints", minimum S3 gateway endpoint policy: prod-<region>-starport-layer-bucket);
# - SSM Agent's own updates and documents (Systems Manager user guide, "SSM Agent communications with
#   AWS managed S3 buckets").
S3_BOOT_BUCKETS = {
    "AmazonLinuxRepositories": ("al2023-repos-{region}-de612dc2",),
    "EcrImageLayers": ("prod-{region}-starport-layer-bucket",),
    "SsmAgent": (
        "aws-ssm-{region}",
        "amazon-ssm-{region}",
        "amazon-ssm-packages-{region}",
        "{region}-birdwatcher-prod",
        "aws-ssm-distributor-file-{region}",
        "aws-ssm-document-attachments-{region}",
        "patch-baseline-snapshot-{region}",
    ),
}
# Everything reelsight's own code and Processing jobs do on its buckets from inside the VPC.
OWN_BUCKET_ACTIONS = (
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:PutObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
    "s3:ListBucket",
    "s3:GetBucketLocation",
)


class Network(Construct):
    """Private network: no internet path unless NAT gateways are configured."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: NetworkConfig,
        log_key: kms.IKey,
        bucket_arns: Sequence[str],
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
        guard_exception(self.flow_log_group, "cloudwatch_log_group_encrypted_check", IMPORTED_KEY_REASON)
        self.vpc = self._vpc(config, subnets=subnets, flow_log_group=self.flow_log_group)
        self.private_subnets = ec2.SubnetSelection(subnet_type=self.private_subnet_type)
        self.s3_endpoint = self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
        for statement in s3_endpoint_policy(bucket_arns, config.model_artifacts):
            self.s3_endpoint.add_to_policy(statement)
        role_tag(self.s3_endpoint, "s3-gateway-endpoint")
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
            # S3's gateway endpoint is added with its policy below (same construct id, same logical ID).
            gateway_endpoints={
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


def s3_endpoint_policy(
    bucket_arns: Sequence[str], model_artifacts: ModelArtifacts | None = None
) -> list[iam.PolicyStatement]:
    """The S3 gateway endpoint admits reelsight's buckets (its account's principals only) and, read-only,
    the AWS-owned buckets that booting and pulling images need, and the model artifacts the deployment
    names (the `modelArtifacts` context); without NAT nothing else reaches S3."""
    statements = [
        iam.PolicyStatement(
            sid=sid,
            principals=[iam.AnyPrincipal()],
            actions=["s3:GetObject"],
            resources=[
                f"arn:{Aws.PARTITION}:s3:::{name.format(region=Aws.REGION)}/*" for name in bucket_names
            ],
        )
        for sid, bucket_names in S3_BOOT_BUCKETS.items()
    ]
    own = iam.PolicyStatement(
        sid="ReelsightBuckets",
        principals=[iam.AnyPrincipal()],
        actions=list(OWN_BUCKET_ACTIONS),
        resources=[arn for bucket in bucket_arns for arn in (bucket, f"{bucket}/*")],
        conditions={"StringEquals": {"aws:PrincipalAccount": Aws.ACCOUNT_ID}},
    )
    if model_artifacts is not None:
        statements.append(
            iam.PolicyStatement(
                sid="ModelArtifacts",
                principals=[iam.AnyPrincipal()],
                actions=["s3:GetObject", "s3:ListBucket"],
                resources=[bucket_arn(model_artifacts), objects_arn(model_artifacts)],
                conditions={"StringEquals": {"aws:PrincipalAccount": Aws.ACCOUNT_ID}},
            )
        )
    return [own, *statements]
