"""Marks resources with their reelsight role so tools can find them in the synthesized template.

Each marked resource carries ``Metadata: {"reelsight:role": "<role>"}``; the local stack reads it instead of
guessing from logical IDs.
"""

from __future__ import annotations

from aws_cdk import CfnResource
from constructs import IConstruct

from reelsight.contract.names import ROLE_METADATA_KEY


def role_tag(construct: IConstruct, role: str) -> None:
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to mark as {role!r}")
    resource.add_metadata(ROLE_METADATA_KEY, role)
