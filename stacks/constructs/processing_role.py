"""Execution role of the SageMaker Processing jobs the dispatcher starts (least privilege)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Aws
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from reelsight.contract.names import JOBS_PREFIX, VIDEO_SOURCE_PREFIXES
from stacks.config import ModelArtifacts
from stacks.constructs.model_artifacts import grant_model_artifacts
from stacks.constructs.worker_endpoint import KEY_GRANT_ACTIONS
from stacks.grants import acknowledge_prefixes, add_statements, list_prefixes, read_objects, write_objects
from stacks.nag import acknowledge, acknowledge_grant_wildcards, checkov_skip
from stacks.tagging import role_tag

# A job reads its videos (its ManifestFile names them) from the upload, batch or library prefix, and
# writes jobs/<id>/output/ (SageMaker, at the end of the job) and jobs/<id>/artifacts/parts/ (the worker).
INPUT_PREFIXES = VIDEO_SOURCE_PREFIXES
OUTPUT_PREFIXES = (JOBS_PREFIX,)

# SageMaker's documented permissions for VPC-mode Processing jobs: it creates, shares and deletes one ENI
# per instance in the job's subnets, with the job's security groups, as this role.
ENI_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface",
)
# No resource-level permissions (IAM service authorization reference for Amazon EC2): Resource "*" only.
UNSCOPED_ENI_ACTIONS = (
    "ec2:DeleteNetworkInterfacePermission",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
)
VPC_ENI_ACTIONS = (*ENI_ACTIONS, *UNSCOPED_ENI_ACTIONS)


@dataclass(frozen=True, kw_only=True)
class JobNetwork:
    """Where the jobs run: the VPC, its private subnets and the jobs' security group (ids)."""

    vpc_id: str
    subnet_ids: Sequence[str]
    security_group_id: str


class ProcessingRole(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        image: ecr_assets.DockerImageAsset,
        key: kms.IKey,
        input_bucket: s3.IBucket,
        results_bucket: s3.IBucket,
        network: JobNetwork,
        model_artifacts: ModelArtifacts | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="reelsight Processing jobs: read videos, write results",
        )
        add_statements(
            self.role,
            [
                list_prefixes("ListVideos", input_bucket, INPUT_PREFIXES),
                read_objects("ReadVideos", input_bucket, INPUT_PREFIXES),
                write_objects("WriteResults", results_bucket, OUTPUT_PREFIXES),
                # A job's plan and manifest (the dispatcher's), and its hosts' part markers.
                read_objects("ReadJobFiles", results_bucket, OUTPUT_PREFIXES),
                list_prefixes("ListJobFiles", results_bucket, OUTPUT_PREFIXES),
            ],
        )
        image.repository.grant_pull(self.role)
        key.grant_encrypt_decrypt(self.role)
        # SageMaker checks the output and volume KmsKeyId with the role before it encrypts with it.
        key.grant(self.role, "kms:DescribeKey")
        add_statements(self.role, [*_job_policy(key), *network_interface_policy(network)])
        grant_model_artifacts(self.role, model_artifacts)
        self._acknowledge(input_bucket=input_bucket, results_bucket=results_bucket)

    def _acknowledge(self, *, input_bucket: s3.IBucket, results_bucket: s3.IBucket) -> None:
        acknowledge_grant_wildcards(self.role, actions=KEY_GRANT_ACTIONS)
        acknowledge_prefixes(self.role, input_bucket, INPUT_PREFIXES)
        acknowledge_prefixes(self.role, results_bucket, OUTPUT_PREFIXES)
        policy = self.role.node.find_child("DefaultPolicy")
        for check_id in ("CKV_AWS_109", "CKV_AWS_111"):
            checkov_skip(
                policy,
                check_id,
                "ec2:DeleteNetworkInterfacePermission and the ec2:Describe* calls SageMaker makes for "
                "VPC-mode jobs support no resource-level permissions; the ENI actions that do are "
                "conditioned on the VPC and subnets.",
            )
        role_tag(self.role, "processing-role")
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "Resource '*' only where EC2's service authorization reference lists no resource type: "
            "ec2:DeleteNetworkInterfacePermission and ec2:Describe*; ecr:GetAuthorizationToken has none "
            "either, and cloudwatch:PutMetricData is scoped by its namespace condition.",
        )
        acknowledge(
            self.role,
            (
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>"
                ":log-group:/aws/sagemaker/ProcessingJobs*]"
            ),
            "Processing jobs log to per-job streams created at run time under this fixed log group.",
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>"
            ":network-interface/*]",
            "SageMaker creates each job's ENIs at run time, so their ids are unknown; the statement is "
            "conditioned on ec2:Vpc and ec2:Subnet, the network-interface condition keys EC2 documents.",
        )


def _job_policy(key: kms.IKey) -> list[iam.PolicyStatement]:
    """What a job needs beyond the grants: encrypted volumes, its logs and metrics."""
    return [
        iam.PolicyStatement(
            sid="VolumeEncryptionGrants",
            actions=["kms:CreateGrant"],
            resources=[key.key_arn],
            conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
        ),
        iam.PolicyStatement(
            sid="JobLogs",
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[
                f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}"
                ":log-group:/aws/sagemaker/ProcessingJobs*"
            ],
        ),
        iam.PolicyStatement(
            sid="JobMetrics",
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/ProcessingJobs*"}},
        ),
    ]


def _ec2_arn(resource: str) -> str:
    return f"arn:{Aws.PARTITION}:ec2:{Aws.REGION}:{Aws.ACCOUNT_ID}:{resource}"


def network_interface_policy(network: JobNetwork) -> list[iam.PolicyStatement]:
    """ENIs only in reelsight's VPC and private subnets, with the jobs' security group.

    EC2 evaluates CreateNetworkInterface against the new ENI, its subnet and its security groups; the
    subnets and the group are named exactly, and the ENI (whose id is made at run time) is held to the
    VPC and subnets by the ec2:Vpc and ec2:Subnet condition keys of the network-interface resource type.
    """
    subnets = [_ec2_arn(f"subnet/{subnet_id}") for subnet_id in network.subnet_ids]
    return [
        iam.PolicyStatement(
            sid="NetworkInterfacesInJobSubnets",
            actions=list(ENI_ACTIONS),
            resources=[_ec2_arn("network-interface/*")],
            conditions={"ArnEquals": {"ec2:Vpc": _ec2_arn(f"vpc/{network.vpc_id}"), "ec2:Subnet": subnets}},
        ),
        iam.PolicyStatement(
            sid="JobSubnetsAndSecurityGroup",
            actions=["ec2:CreateNetworkInterface"],
            resources=[*subnets, _ec2_arn(f"security-group/{network.security_group_id}")],
        ),
        iam.PolicyStatement(sid="NetworkDescriptions", actions=list(UNSCOPED_ENI_ACTIONS), resources=["*"]),
    ]
