"""Compliance exceptions (cdk-nag and cfn-guard acknowledgments, checkov skips), each with its reason."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from aws_cdk import Acknowledgment, CfnResource, IPolicyValidationPlugin, Stack, Validations
from cdklabs.cdk_validator_cfnguard import CfnGuardValidator
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


# The data key and the VPC live in other stacks, so their ids reach these resources as Fn::ImportValue;
# the Control Tower rules accept only literal ids or references within one template.
IMPORTED_KEY_REASON = (
    "Encrypted with reelsight's customer-managed data key, referenced across stacks with Fn::ImportValue, "
    "which the guard rule cannot resolve (tests/infra asserts the KmsKeyId/KmsMasterKeyId)."
)
DEAD_LETTER_QUEUE_REASON = (
    "A dead-letter queue is the end of its redrive chain; a RedriveAllowPolicy naming its source queue would "
    "form a dependency cycle, because the source already names it in its RedrivePolicy."
)
IMPORTED_VPC_REASON = (
    "Runs in reelsight's private subnets with its security group; both come from the network stack through "
    "Fn::ImportValue, which the guard rule cannot resolve (tests/infra asserts the VpcConfig)."
)


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


# cfn-guard with the AWS Control Tower proactive controls (cdklabs.cdk-validator-cfnguard): a finding is
# acknowledged, like cdk-nag's, on the construct, under the plugin's name and the guard rule's name.
GUARD_PLUGIN = "cdk-validator-cfnguard"


def guard_exception(construct: IConstruct, rule_name: str, reason: str) -> None:
    """Acknowledge one Control Tower guard rule (e.g. ``sqs_dlq_check``) on ``construct``, with a reason."""
    acknowledge(construct, f"{GUARD_PLUGIN}::{rule_name}", reason)


def control_tower_validator() -> IPolicyValidationPlugin:
    """cfn-guard with the bundled Control Tower rules, all enabled; exceptions are per construct.

    The plugin is typed against the Beta1 interface, whose App prop is deprecated in favour of
    ``Validations.of(app).add_plugins``; the two interfaces have the same members, and jsii passes the
    plugin through, so only the static type needs the cast.
    """
    return cast(IPolicyValidationPlugin, CfnGuardValidator(control_tower_rules_enabled=True))


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
