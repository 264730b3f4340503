"""Prefix-scoped S3 grants with the exact actions each caller makes, instead of CDK's grant_* action groups.

CDK's ``grant_read``/``grant_read_write`` give ``s3:GetObject*``, ``s3:List*``, ``s3:DeleteObject*`` and
``s3:Abort*`` on a whole bucket. reelsight's roles each touch a few prefixes with a few calls, so they get
statements built here: one action list, one set of prefixes, and a ``Sid`` that the template summary shows.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import IConstruct

from stacks.nag import acknowledge, nag_resource

# GetObject also authorizes HeadObject; presigned GETs carry the signer's authority.
READ_ACTIONS = ("s3:GetObject",)
# PutObject covers single PUTs and every multipart step but the abort (boto3's upload_file aborts a
# failed multipart upload itself); nothing reelsight runs deletes an object.
WRITE_ACTIONS = ("s3:PutObject", "s3:AbortMultipartUpload")
# Writing to an SSE-KMS bucket needs a data key; multipart uploads also decrypt it for each part.
KEY_WRITE_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")
KEY_READ_ACTIONS = ("kms:Decrypt",)

PREFIX_RESOURCE_REASON = (
    "S3 names objects by key, so a prefix grant needs a trailing wildcard; it is scoped to one of "
    "reelsight's own prefixes (contract/names.py) in one reelsight bucket."
)


def object_arns(bucket: s3.IBucket, prefixes: Sequence[str]) -> list[str]:
    return [bucket.arn_for_objects(f"{prefix}*") for prefix in prefixes]


def read_objects(sid: str, bucket: s3.IBucket, prefixes: Sequence[str]) -> iam.PolicyStatement:
    return iam.PolicyStatement(sid=sid, actions=list(READ_ACTIONS), resources=object_arns(bucket, prefixes))


def write_objects(sid: str, bucket: s3.IBucket, prefixes: Sequence[str]) -> iam.PolicyStatement:
    return iam.PolicyStatement(sid=sid, actions=list(WRITE_ACTIONS), resources=object_arns(bucket, prefixes))


def list_prefixes(sid: str, bucket: s3.IBucket, prefixes: Sequence[str]) -> iam.PolicyStatement:
    """ListObjectsV2 under the prefixes only (the request's Prefix must start with one of them)."""
    return iam.PolicyStatement(
        sid=sid,
        actions=["s3:ListBucket"],
        resources=[bucket.bucket_arn],
        conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in prefixes]}},
    )


def use_key(sid: str, key: kms.IKey, actions: Sequence[str]) -> iam.PolicyStatement:
    return iam.PolicyStatement(sid=sid, actions=list(actions), resources=[key.key_arn])


def add_statements(role: iam.IRole, statements: Sequence[iam.PolicyStatement]) -> None:
    for statement in statements:
        role.add_to_principal_policy(statement)


def acknowledge_prefixes(role: IConstruct, bucket: s3.IBucket, prefixes: Sequence[str]) -> None:
    """The reasoned cdk-nag exceptions for the object wildcards that prefix grants carry."""
    for arn in object_arns(bucket, prefixes):
        acknowledge(role, f"AwsSolutions-IAM5[Resource::{nag_resource(role, arn)}]", PREFIX_RESOURCE_REASON)
