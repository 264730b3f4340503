"""Customer-managed KMS key shared by buckets, tables, queues, topics and log groups."""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

# Services that encrypt or decrypt with the key on reelsight's behalf, and what each needs.
_SERVICE_USE: dict[str, tuple[str, ...]] = {
    # SageMaker writes async outputs and publishes encrypted notifications.
    "sagemaker.amazonaws.com": ("kms:Decrypt", "kms:GenerateDataKey*", "kms:DescribeKey"),
    # SNS delivers to the KMS-encrypted queues.
    "sns.amazonaws.com": ("kms:Decrypt", "kms:GenerateDataKey*"),
    # SQS server-side encryption for queues owned by this account.
    "sqs.amazonaws.com": ("kms:Decrypt", "kms:GenerateDataKey*"),
    # S3 event notifications into the KMS-encrypted upload queue.
    "s3.amazonaws.com": ("kms:Decrypt", "kms:GenerateDataKey*"),
    # EventBridge delivers Processing job state changes to the KMS-encrypted results queue.
    "events.amazonaws.com": ("kms:Decrypt", "kms:GenerateDataKey*"),
    # CloudWatch alarms publish to the KMS-encrypted ops topic.
    "cloudwatch.amazonaws.com": ("kms:Decrypt", "kms:GenerateDataKey*"),
}


class DataKey(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description="reelsight data key (buckets, tables, queues, topics, logs)",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        for service, actions in _SERVICE_USE.items():
            self.key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"Allow{service.split('.')[0].capitalize()}",
                    principals=[iam.ServicePrincipal(service)],
                    actions=list(actions),
                    resources=["*"],
                    conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
                )
            )
        # Control Tower's CT.KMS.PR.3: grants only for AWS resources (EBS, Lambda, SageMaker volumes) or by
        # AWS services; no principal can hand out the key's use by a grant of its own.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyGrantsNotForAwsResources",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["kms:CreateGrant"],
                resources=["*"],
                conditions={
                    "BoolIfExists": {
                        "kms:GrantIsForAWSResource": "false",
                        "aws:PrincipalIsAWSService": "false",
                    }
                },
            )
        )
        region = Stack.of(self).region
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogs",
                principals=[iam.ServicePrincipal(f"logs.{region}.amazonaws.com")],
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:{Aws.PARTITION}:logs:{region}:{Aws.ACCOUNT_ID}:log-group:*"
                        )
                    }
                },
            )
        )
