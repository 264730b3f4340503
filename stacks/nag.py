"""Compliance exceptions (cdk-nag acknowledgments, checkov skips): each one carries a specific reason."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from constructs import IConstruct

MIN_REASON_LENGTH = 40


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on ``construct``; the reason must explain the exception."""
    if len(reason.strip()) < MIN_REASON_LENGTH:
        raise ValueError(f"acknowledgment of {rule_id} on {construct.node.path} needs a specific reason")
    Validations.of(construct).acknowledge(Acknowledgment(id=rule_id, reason=reason))


# Reasons for the wildcards that CDK's grant_* methods produce; each acknowledgment below names one finding.
GRANT_ACTION_REASON = (
    "Action group written by CDK's grant_read/grant_write/grant_encrypt_decrypt; it only applies to "
    "reelsight's own bucket, table or key named in the same statement."
)
OBJECT_RESOURCE_REASON = (
    "Object-level S3 permissions must name objects with a wildcard; scoped to one reelsight bucket (and "
    "prefix) that this role works on."
)
INDEX_RESOURCE_REASON = (
    "Queries on the jobs table's indexes (the by_status index used to list jobs); scoped to that one table."
)


def nag_resource(scope: IConstruct, value: str) -> str:
    """How cdk-nag prints a (tokenized) ARN in a finding id, e.g. ``<AWS::Partition>`` or an import name."""
    return _render(Stack.of(scope).resolve(value))


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Fn::ImportValue":
            return _render(argument)
        if function == "Ref":
            return f"<{argument}>"
        if function == "Fn::GetAtt":
            return f"<{argument[0]}.{argument[1]}>"
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(_render(part) for part in parts)
    raise ValueError(f"cannot render {value!r} as a cdk-nag finding")


def acknowledge_grant_wildcards(
    construct: IConstruct,
    *,
    actions: Iterable[str] = (),
    object_resources: Iterable[str] = (),
    index_resources: Iterable[str] = (),
) -> None:
    for action in actions:
        acknowledge(construct, f"AwsSolutions-IAM5[Action::{action}]", GRANT_ACTION_REASON)
    for resource in object_resources:
        acknowledge(
            construct,
            f"AwsSolutions-IAM5[Resource::{nag_resource(construct, resource)}]",
            OBJECT_RESOURCE_REASON,
        )
    for resource in index_resources:
        acknowledge(
            construct,
            f"AwsSolutions-IAM5[Resource::{nag_resource(construct, resource)}]",
            INDEX_RESOURCE_REASON,
        )


def checkov_skip(construct: IConstruct, check_id: str, reason: str) -> None:
    """Record a reasoned checkov exception on the construct's CloudFormation resource (template metadata)."""
    if len(reason.strip()) < MIN_REASON_LENGTH:
        raise ValueError(f"checkov skip {check_id} on {construct.node.path} needs a specific reason")
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource")
    metadata = resource.get_metadata("checkov") or {"skip": []}
    metadata["skip"] = [*metadata["skip"], {"id": check_id, "comment": reason}]
    resource.add_metadata("checkov", metadata)
