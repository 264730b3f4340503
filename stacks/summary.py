"""One line per resource of each synthesized template: logical ID, type, role and key properties.

Usage: ``python -m stacks.summary CDK_OUT_DIR OUTPUT_DIR`` writes ``OUTPUT_DIR/<stack>.txt``. Values that
change with every source edit (asset hashes, user-data hashes in logical IDs) are masked, so the summaries
only change when the infrastructure does.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from stacks.config import ROLE_METADATA_KEY

KEY_PROPERTIES: dict[str, tuple[str, ...]] = {
    "AWS::S3::Bucket": (
        "BucketEncryption.ServerSideEncryptionConfiguration.0.ServerSideEncryptionByDefault.SSEAlgorithm",
        "VersioningConfiguration.Status",
        "LoggingConfiguration.LogFilePrefix",
    ),
    "AWS::KMS::Key": ("EnableKeyRotation",),
    "AWS::DynamoDB::Table": (
        "KeySchema",
        "GlobalSecondaryIndexes.0.IndexName",
        "TimeToLiveSpecification.AttributeName",
        "BillingMode",
    ),
    "AWS::SQS::Queue": ("VisibilityTimeout", "RedrivePolicy.maxReceiveCount", "MessageRetentionPeriod"),
    "AWS::SNS::Subscription": ("Protocol", "RawMessageDelivery"),
    "AWS::SageMaker::EndpointConfig": (
        "ProductionVariants.0.InstanceType",
        "AsyncInferenceConfig.ClientConfig.MaxConcurrentInvocationsPerInstance",
    ),
    "AWS::ApplicationAutoScaling::ScalableTarget": ("MinCapacity", "MaxCapacity", "ScalableDimension"),
    "AWS::ApplicationAutoScaling::ScalingPolicy": ("PolicyType",),
    "AWS::CloudWatch::Alarm": ("MetricName", "Threshold", "EvaluationPeriods", "ComparisonOperator"),
    "AWS::Lambda::Function": ("Handler", "Runtime", "Timeout", "MemorySize"),
    "AWS::Lambda::EventSourceMapping": (
        "BatchSize",
        "FunctionResponseTypes",
        "ScalingConfig.MaximumConcurrency",
    ),
    "AWS::EC2::Instance": ("InstanceType",),
    "AWS::EC2::LaunchTemplate": ("LaunchTemplateData.MetadataOptions.HttpTokens",),
    "AWS::EC2::VPC": ("CidrBlock", "EnableDnsHostnames", "EnableDnsSupport"),
    "AWS::EC2::Subnet": ("CidrBlock",),
    "AWS::EC2::VPCEndpoint": ("VpcEndpointType",),
    "AWS::EC2::NatGateway": (),
    "AWS::Logs::LogGroup": ("RetentionInDays",),
    "AWS::Events::Rule": ("EventPattern.detail-type",),
    "AWS::Route53::RecordSet": ("Name", "Type"),
}
_ASSET_HASH = re.compile(r"[0-9a-f]{64}")
# Logical IDs that embed a hash of the instance's user data (it changes with the image).
_USER_DATA_ID = re.compile(r"^(.*[0-9A-F]{8})[0-9a-f]{16}$")


def mask_logical_id(logical_id: str) -> str:
    return _USER_DATA_ID.sub(r"\1<user-data>", logical_id)


def _lookup(value: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return None
    return value


def _render(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    text = _ASSET_HASH.sub("<asset>", text)
    return _USER_DATA_ID.sub(r"\1<user-data>", text)


def summarize(template: dict[str, Any]) -> list[str]:
    lines = []
    for logical_id in sorted(template.get("Resources", {}), key=mask_logical_id):
        resource = template["Resources"][logical_id]
        parts = [mask_logical_id(logical_id), resource["Type"]]
        role = (resource.get("Metadata") or {}).get(ROLE_METADATA_KEY)
        if role:
            parts.append(f"role={role}")
        for path in KEY_PROPERTIES.get(resource["Type"], ()):
            found = _lookup(resource.get("Properties", {}), path)
            if found is not None:
                parts.append(f"{path.split('.')[-1] if path[-1].isalpha() else path}={_render(found)}")
        if resource.get("DeletionPolicy"):
            parts.append(f"DeletionPolicy={resource['DeletionPolicy']}")
        lines.append(" ".join(parts))
    return lines


def write_summaries(cdk_out: Path, output_dir: Path) -> list[Path]:
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for template_path in sorted(cdk_out.glob("*.template.json")):
        stack = template_path.name.removesuffix(".template.json")
        target = output_dir / f"{stack}.txt"
        lines = summarize(json.loads(template_path.read_text()))
        target.write_text("\n".join(lines) + "\n")
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m stacks.summary CDK_OUT_DIR OUTPUT_DIR", file=sys.stderr)
        return 2
    for path in write_summaries(Path(args[0]), Path(args[1])):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
