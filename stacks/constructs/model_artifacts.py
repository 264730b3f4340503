"""Read access to a model-artifact bucket or prefix outside reelsight (the `modelArtifacts` context).

Weights a training job wrote (``weights=s3://bucket/prefix/model.tar.gz``) are read where they lie:
GetObject under the prefix, ListBucket held to the prefix (so a missing object answers 404, not 403),
and kms:Decrypt on the objects' key only when one is named.
"""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_iam as iam

from stacks.config import ModelArtifacts
from stacks.grants import READ_ACTIONS, add_statements
from stacks.nag import acknowledge, nag_resource

ARTIFACT_RESOURCE_REASON = (
    "Object-level S3 permissions name objects with a wildcard; scoped to the one model-artifact bucket and "
    "prefix the deployment names in its modelArtifacts context, read-only."
)


def bucket_arn(artifacts: ModelArtifacts) -> str:
    return f"arn:{Aws.PARTITION}:s3:::{artifacts.bucket}"


def objects_arn(artifacts: ModelArtifacts) -> str:
    return f"{bucket_arn(artifacts)}/{artifacts.prefix}*"


def model_artifact_statements(artifacts: ModelArtifacts) -> list[iam.PolicyStatement]:
    """GetObject under the prefix, ListBucket held to it, and kms:Decrypt on the named key."""
    listing = iam.PolicyStatement(
        sid="ListModelArtifacts",
        actions=["s3:ListBucket"],
        resources=[bucket_arn(artifacts)],
        conditions={"StringLike": {"s3:prefix": [f"{artifacts.prefix}*"]}} if artifacts.prefix else None,
    )
    statements = [
        listing,
        iam.PolicyStatement(
            sid="ReadModelArtifacts", actions=list(READ_ACTIONS), resources=[objects_arn(artifacts)]
        ),
    ]
    if artifacts.key_arn:
        statements.append(
            iam.PolicyStatement(
                sid="DecryptModelArtifacts", actions=["kms:Decrypt"], resources=[artifacts.key_arn]
            )
        )
    return statements


def grant_model_artifacts(role: iam.IRole, artifacts: ModelArtifacts | None) -> None:
    """Let ``role`` read the model artifacts, when the deployment names any."""
    if artifacts is None:
        return
    add_statements(role, model_artifact_statements(artifacts))
    acknowledge(
        role,
        f"AwsSolutions-IAM5[Resource::{nag_resource(role, objects_arn(artifacts))}]",
        ARTIFACT_RESOURCE_REASON,
    )
