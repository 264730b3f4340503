"""Execution role of the SageMaker Processing jobs the dispatcher starts (least privilege)."""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.constructs.worker_endpoint import READ_WRITE_GRANT_ACTIONS
from stacks.nag import acknowledge, acknowledge_grant_wildcards, checkov_skip
from stacks.tagging import role_tag

# Documented needs of VPC-mode Processing jobs: SageMaker creates ENIs in the job's subnets as this role.
VPC_ENI_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface",
    "ec2:DeleteNetworkInterfacePermission",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
)


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
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="reelsight Processing jobs: read videos, write results",
        )
        input_bucket.grant_read(self.role)
        results_bucket.grant_read_write(self.role)
        image.repository.grant_pull(self.role)
        key.grant_encrypt_decrypt(self.role)
        for statement in _job_policy(key):
            self.role.add_to_policy(statement)
        self._acknowledge(input_bucket=input_bucket, results_bucket=results_bucket)

    def _acknowledge(self, *, input_bucket: s3.IBucket, results_bucket: s3.IBucket) -> None:
        acknowledge_grant_wildcards(
            self.role,
            actions=READ_WRITE_GRANT_ACTIONS,
            object_resources=[input_bucket.arn_for_objects("*"), results_bucket.arn_for_objects("*")],
        )
        policy = self.role.node.find_child("DefaultPolicy")
        for check_id in ("CKV_AWS_109", "CKV_AWS_111"):
            checkov_skip(
                policy,
                check_id,
                "The ec2 network-interface actions SageMaker needs for VPC-mode jobs have no resource-level "
                "scoping; everything else in this policy names reelsight's own resources.",
            )
        role_tag(self.role, "processing-role")
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "VPC ENI management and ec2:Describe* have no resource-level permissions, "
            "ecr:GetAuthorizationToken neither, and cloudwatch:PutMetricData is scoped by namespace.",
        )
        acknowledge(
            self.role,
            (
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>"
                ":log-group:/aws/sagemaker/ProcessingJobs*]"
            ),
            "Processing jobs log to per-job streams created at run time under this fixed log group.",
        )


def _job_policy(key: kms.IKey) -> list[iam.PolicyStatement]:
    """What a job needs beyond the grants: encrypted volumes, its logs and metrics, ENIs in the VPC."""
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
        iam.PolicyStatement(sid="VpcNetworkInterfaces", actions=list(VPC_ENI_ACTIONS), resources=["*"]),
    ]
