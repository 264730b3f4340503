"""A reviewer's view of each synthesized template: per resource, what it grants, opens, configures and sizes.

Usage: ``python -m stacks.summary CDK_OUT_DIR OUTPUT_DIR`` writes ``OUTPUT_DIR/<stack>.txt``.

Each resource gets a header line (logical ID, type, reelsight role, key properties) and, indented under
it, one sorted line per detail a reviewer must see:

- ``iam``: every policy statement (identity policies, role trust and inline policies, managed policies,
  bucket / queue / topic / key / secret policies) with effect, principal, actions, resources and conditions;
  every ``*`` in an action, resource or principal carries the ``(WILDCARD)`` marker;
- ``net``: every security-group rule (direction, protocol and ports, peer) and the Lambdas' VPC placement;
- ``env``: every Lambda and SageMaker model environment variable (a JSON object one line per field, as
  ``NAME.field=``); references are shown as references (``${Logical.Attr}``, ``${Import:Name}``) and
  literal values of secret-looking names are masked;
- ``size`` / ``scaling``: endpoint variants, instance types, target-tracking and step policies (bounds are in
  the header);
- ``notify`` / ``async`` / ``endpoint``: bucket notification filters, subscriptions, rule targets, event
  sources, async inference output/failure/topics, VPC endpoint services;
- ``code``: the Lambdas' layers (the Powertools layer version).

Values that change with every source edit (asset hashes, user-data hashes in logical IDs) are masked, so the
summaries only change when the infrastructure does.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator
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
    "AWS::ApplicationAutoScaling::ScalableTarget": ("MinCapacity", "MaxCapacity", "ScalableDimension"),
    "AWS::ApplicationAutoScaling::ScalingPolicy": ("PolicyType",),
    "AWS::CloudWatch::Alarm": ("MetricName", "Threshold", "EvaluationPeriods", "ComparisonOperator"),
    "AWS::Lambda::Function": ("Handler", "Runtime", "Timeout", "MemorySize", "ReservedConcurrentExecutions"),
    "AWS::Lambda::EventSourceMapping": (
        "BatchSize",
        "FunctionResponseTypes",
        "ScalingConfig.MaximumConcurrency",
    ),
    "AWS::EC2::Instance": ("InstanceType",),
    "AWS::EC2::LaunchTemplate": ("LaunchTemplateData.MetadataOptions.HttpTokens",),
    "AWS::EC2::VPC": ("CidrBlock", "EnableDnsHostnames", "EnableDnsSupport"),
    "AWS::EC2::Subnet": ("CidrBlock",),
    "AWS::EC2::NatGateway": (),
    "AWS::Logs::LogGroup": ("RetentionInDays",),
    "AWS::Events::Rule": ("EventPattern.detail-type",),
    "AWS::Route53::RecordSet": ("Name", "Type"),
}
WILDCARD = "(WILDCARD)"
MASKED = "<masked>"
_ASSET_HASH = re.compile(r"[0-9a-f]{64}")
# Logical IDs that embed a hash of the instance's user data (it changes with the image).
_USER_DATA_ID = re.compile(r"^(.*[0-9A-F]{8})[0-9a-f]{16}$")
_USER_DATA_IN_TEXT = re.compile(r"([0-9A-F]{8})[0-9a-f]{16}\b")
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|PRIVATE_KEY|API_KEY|CREDENTIAL", re.IGNORECASE)
_REFERENCE_LITERAL = ("arn:", "{{resolve:")

Properties = dict[str, Any]
Detail = Callable[[Properties], Iterable[str]]


def mask_logical_id(logical_id: str) -> str:
    return _USER_DATA_ID.sub(r"\1<user-data>", logical_id)


def _mask(text: str) -> str:
    return _USER_DATA_IN_TEXT.sub(r"\1<user-data>", _ASSET_HASH.sub("<asset>", text))


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
    """Compact JSON, as the header's key properties are shown."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    text = _ASSET_HASH.sub("<asset>", text)
    return _USER_DATA_ID.sub(r"\1<user-data>", text)


# --- values: literals as they are, intrinsic functions as ${...} references ---------------------------------


def _text(value: Any) -> str:
    """A template value as a reviewer reads it: ``arn:${AWS::Partition}:s3:::${InputBucket}/*``."""
    if isinstance(value, str):
        return value if value else '""'
    if isinstance(value, bool | int | float) or value is None:
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_text(item) for item in value) + "]"
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        renderer = _INTRINSICS.get(function)
        if renderer is not None:
            return renderer(argument)
        if function.startswith("Fn::"):
            return _call(function, argument)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _call(function: str, argument: Any) -> str:
    """Other intrinsic functions as calls: ``Select(1, Split("/", ${Import:Name}))``."""
    arguments = ", ".join(
        json.dumps(item) if isinstance(item, str) else _text(item) for item in _as_list(argument)
    )
    return f"{function.removeprefix('Fn::')}({arguments})"


def _get_att(argument: Any) -> str:
    return "${" + (".".join(argument) if isinstance(argument, list) else str(argument)) + "}"


def _join(argument: Any) -> str:
    separator, parts = argument
    if isinstance(parts, list):
        return str(separator).join(_text(part) for part in parts)
    return f"${{Join:{separator}:{_text(parts)}}}"


def _sub(argument: Any) -> str:
    if isinstance(argument, str):
        return argument
    template, variables = argument
    text = str(template)
    for name, variable in sorted(variables.items()):
        text = text.replace(f"${{{name}}}", _text(variable))
    return text


_INTRINSICS: dict[str, Callable[[Any], str]] = {
    "Ref": lambda argument: f"${{{argument}}}",
    "Fn::GetAtt": _get_att,
    "Fn::ImportValue": lambda argument: f"${{Import:{_text(argument)}}}",
    "Fn::Join": _join,
    "Fn::Sub": _sub,
}


def _is_intrinsic(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and len(value) == 1
        and (next(iter(value)) == "Ref" or "Fn::" in next(iter(value)))
    )


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _flagged(value: Any) -> str:
    text = _text(value)
    return f"{text} {WILDCARD}" if "*" in text else text


def _items(value: Any) -> str:
    return "[" + ", ".join(sorted(_flagged(item) for item in _as_list(value))) + "]"


def _pairs(values: dict[str, Any]) -> str:
    return " ".join(f"{key}={_text(values[key])}" for key in sorted(values))


# --- iam: policy statements ---------------------------------------------------------------------------------


def _principal(principal: Any) -> str:
    if not isinstance(principal, dict):
        return _flagged(principal)
    entries = [f"{kind}:{_flagged(who)}" for kind in principal for who in _as_list(principal[kind])]
    return entries[0] if len(entries) == 1 else "[" + ", ".join(sorted(entries)) + "]"


def _conditions(conditions: dict[str, Any]) -> str:
    clauses = []
    for operator in sorted(conditions):
        tests = conditions[operator]
        body = ", ".join(f"{key}={_text(tests[key])}" for key in sorted(tests))
        clauses.append(f"{operator}({body})")
    return " and ".join(clauses)


def _statement(document: str, statement: dict[str, Any]) -> str:
    parts = ["iam", document, str(statement.get("Effect", "?"))]
    for key in ("Principal", "NotPrincipal"):
        if key in statement:
            parts.append(f"{key.lower()}={_principal(statement[key])}")
    for key in ("Action", "NotAction", "Resource", "NotResource"):
        if key in statement:
            parts.append(f"{key.lower()}={_items(statement[key])}")
    if statement.get("Condition"):
        parts.append(f"if {_conditions(statement['Condition'])}")
    if statement.get("Sid"):
        parts.append(f"sid={statement['Sid']}")
    return " ".join(parts)


def _document(document: str, policy: Any) -> Iterator[str]:
    if isinstance(policy, dict):
        for statement in _as_list(policy.get("Statement", [])):
            yield _statement(document, statement)


def _document_at(document: str, key: str) -> Detail:
    return lambda props: _document(document, props.get(key))


def _applies_to(*keys: str) -> Detail:
    def detail(props: Properties) -> Iterator[str]:
        for key in keys:
            if key in props:
                yield f"iam applies-to {key.lower()}={_text(props[key])}"

    return detail


def _role_policies(props: Properties) -> Iterator[str]:
    yield from _document("assume", props.get("AssumeRolePolicyDocument"))
    for policy in props.get("Policies", []):
        yield from _document(f"inline:{_text(policy.get('PolicyName'))}", policy.get("PolicyDocument"))
    for arn in _as_list(props.get("ManagedPolicyArns", [])):
        yield f"iam managed-policy {_text(arn)}"
    if "PermissionsBoundary" in props:
        yield f"iam permissions-boundary {_text(props['PermissionsBoundary'])}"


def _lambda_permission(props: Properties) -> Iterator[str]:
    fields: dict[str, Any] = {
        key: props[key] for key in ("Principal", "SourceArn", "SourceAccount") if key in props
    }
    yield f"iam invoke {_flagged(props.get('Action'))} on {_text(props.get('FunctionName'))} {_pairs(fields)}"


# --- net: security-group rules ------------------------------------------------------------------------------

_PEERS = (
    ("CidrIp", "cidr"),
    ("CidrIpv6", "cidr6"),
    ("SourcePrefixListId", "prefix-list"),
    ("DestinationPrefixListId", "prefix-list"),
    ("SourceSecurityGroupId", "sg"),
    ("DestinationSecurityGroupId", "sg"),
    ("SourceSecurityGroupName", "sg-name"),
)


def _ports(rule: dict[str, Any]) -> str:
    protocol = str(rule.get("IpProtocol", "?"))
    if protocol == "-1":
        return "all-traffic"
    low, high = rule.get("FromPort"), rule.get("ToPort")
    if low is None and high is None:
        return f"{protocol} all-ports"
    return f"{protocol} {_text(low)}" if low == high else f"{protocol} {_text(low)}-{_text(high)}"


def _peer(rule: dict[str, Any]) -> str:
    for key, kind in _PEERS:
        if key in rule:
            value = _text(rule[key])
            anywhere = value in ("0.0.0.0/0", "::/0")
            return f"{kind} {value}" + (" (ANYWHERE)" if anywhere else "")
    return "peer ?"


def _rule(direction: str, rule: dict[str, Any], group: str = "") -> str:
    preposition = "from" if direction == "ingress" else "to"
    target = f" on {group}" if group else ""
    description = f' "{rule["Description"]}"' if rule.get("Description") else ""
    return f"net {direction}{target} {_ports(rule)} {preposition} {_peer(rule)}{description}"


def _inline_rules(props: Properties) -> Iterator[str]:
    for key, direction in (("SecurityGroupIngress", "ingress"), ("SecurityGroupEgress", "egress")):
        for rule in props.get(key, []):
            yield _rule(direction, rule)


def _rule_resource(direction: str) -> Detail:
    return lambda props: [_rule(direction, props, _text(props.get("GroupId")))]


def _instance_network(props: Properties) -> Iterator[str]:
    if "SecurityGroupIds" in props:
        yield f"net security-groups={_items(props['SecurityGroupIds'])}"
    if "SubnetId" in props:
        yield f"net subnet={_text(props['SubnetId'])}"


def _lambda_network(props: Properties) -> Iterator[str]:
    vpc = props.get("VpcConfig")
    if isinstance(vpc, dict):
        yield f"net vpc security-groups={_items(vpc.get('SecurityGroupIds', []))}"
        yield f"net vpc subnets={_items(vpc.get('SubnetIds', []))}"


# --- env: environment variables -----------------------------------------------------------------------------


def _env_value(name: str, value: Any) -> str:
    """References as references; a literal under a secret-looking name is never printed."""
    literal = not _is_intrinsic(value)
    reference = isinstance(value, str) and value.startswith(_REFERENCE_LITERAL)
    if _SECRET_NAME.search(name) and literal and not reference:
        return MASKED
    return _text(value)


def _environment(label: str, variables: Any) -> Iterator[str]:
    if isinstance(variables, dict):
        for name in sorted(variables):
            fields = _json_object_fields(variables[name])
            if fields is None:
                yield f"{label} {name}={_env_value(name, variables[name])}"
                continue
            # A JSON object (the dispatcher's Processing job definition): one line per field, so that a
            # change shows as the field that changed.
            for field in sorted(fields):
                yield f"{label} {name}.{field}={_env_value(f'{name}.{field}', fields[field])}"


# Stands in for one intrinsic function while a value written by ``to_json_string`` is parsed as JSON.
_INTRINSIC_MARK = re.compile(r"@@intrinsic(\d+)@@")


def _json_object_fields(value: Any) -> dict[str, Any] | None:
    """The fields of a JSON object as the CDK's ``to_json_string`` writes it (a literal, or an Fn::Join of
    text and intrinsic functions), each intrinsic function as itself; None for any other value."""
    join = value.get("Fn::Join") if isinstance(value, dict) and len(value) == 1 else None
    if isinstance(value, str):
        parts: list[Any] = [value]
    elif isinstance(join, list) and len(join) == 2 and join[0] == "" and isinstance(join[1], list):
        parts = join[1]
    else:
        return None
    intrinsics = [part for part in parts if not isinstance(part, str)]
    marks = iter(range(len(intrinsics)))
    text = "".join(part if isinstance(part, str) else f"@@intrinsic{next(marks)}@@" for part in parts)
    if not text.startswith("{"):
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    return {key: _restore_intrinsics(item, intrinsics) for key, item in parsed.items()}


def _restore_intrinsics(value: Any, intrinsics: list[Any]) -> Any:
    if isinstance(value, list):
        return [_restore_intrinsics(item, intrinsics) for item in value]
    if isinstance(value, dict):
        return {key: _restore_intrinsics(item, intrinsics) for key, item in value.items()}
    if not isinstance(value, str) or not _INTRINSIC_MARK.search(value):
        return value
    # split() with a group alternates text and mark numbers: "a@@intrinsic0@@b" -> ["a", "0", "b"].
    pieces = [
        intrinsics[int(piece)] if index % 2 else piece
        for index, piece in enumerate(_INTRINSIC_MARK.split(value))
        if piece
    ]
    return pieces[0] if len(pieces) == 1 else {"Fn::Join": ["", pieces]}


def _lambda_environment(props: Properties) -> Iterator[str]:
    yield from _environment("env", _lookup(props, "Environment.Variables"))


def _lambda_layers(props: Properties) -> Iterator[str]:
    for layer in props.get("Layers", []):
        yield f"code layer {_text(layer)}"


def _model_environment(props: Properties) -> Iterator[str]:
    yield from _environment("env", _lookup(props, "PrimaryContainer.Environment"))
    for index, container in enumerate(props.get("Containers", [])):
        label = f"env[{container.get('ContainerHostname', index)}]"
        yield from _environment(label, container.get("Environment"))


# --- size / scaling -----------------------------------------------------------------------------------------

_VARIANT_FIELDS = {
    "InstanceType": "instance-type",
    "InitialInstanceCount": "initial-count",
    "InitialVariantWeight": "weight",
    "VolumeSizeInGB": "volume-gb",
    "ServerlessConfig": "serverless",
    "ManagedInstanceScaling": "managed-scaling",
}


def _variants(props: Properties) -> Iterator[str]:
    for variant in props.get("ProductionVariants", []):
        fields = " ".join(
            f"{label}={_text(variant[key])}" for key, label in _VARIANT_FIELDS.items() if key in variant
        )
        yield f"size variant {_text(variant.get('VariantName', '?'))} {fields}"


def _launch_template_size(props: Properties) -> Iterator[str]:
    instance_type = _lookup(props, "LaunchTemplateData.InstanceType")
    if instance_type is not None:
        yield f"size instance-type={_text(instance_type)}"


def _metric(config: dict[str, Any]) -> str:
    custom = config.get("CustomizedMetricSpecification")
    if isinstance(custom, dict):
        namespace, name, statistic = (
            _text(custom.get(key)) for key in ("Namespace", "MetricName", "Statistic")
        )
        return f"{namespace}/{name}:{statistic}"
    return _text(_lookup(config, "PredefinedMetricSpecification.PredefinedMetricType"))


def _target_tracking(props: Properties) -> Iterator[str]:
    config = props.get("TargetTrackingScalingPolicyConfiguration")
    if isinstance(config, dict):
        settings = {
            key: config[key]
            for key in ("ScaleInCooldown", "ScaleOutCooldown", "DisableScaleIn")
            if key in config
        }
        yield (
            f"scaling target-tracking metric={_metric(config)} target={_text(config.get('TargetValue'))} "
            f"{_pairs(settings)}"
        ).rstrip()


def _bound(value: Any, default: str) -> str:
    return default if value is None else _text(value)


def _step_scaling(props: Properties) -> Iterator[str]:
    config = props.get("StepScalingPolicyConfiguration")
    if not isinstance(config, dict):
        return
    settings = {key: value for key, value in config.items() if key != "StepAdjustments"}
    yield f"scaling step {_pairs(settings)}"
    for step in config.get("StepAdjustments", []):
        low = _bound(step.get("MetricIntervalLowerBound"), "-inf")
        high = _bound(step.get("MetricIntervalUpperBound"), "+inf")
        yield f"scaling step [{low}, {high}) adjust={_text(step.get('ScalingAdjustment'))}"


# --- notify / async / endpoint ------------------------------------------------------------------------------

_DESTINATIONS = (
    ("QueueConfigurations", "Queue", "queue"),
    ("TopicConfigurations", "Topic", "topic"),
    ("LambdaFunctionConfigurations", "Function", "lambda"),
    ("LambdaConfigurations", "Function", "lambda"),
)


def _filter_rules(config: dict[str, Any]) -> str:
    rules = _lookup(config, "Filter.Key.FilterRules") or _lookup(config, "Filter.S3Key.Rules") or []
    return " ".join(sorted(f"{str(rule['Name']).lower()}={_text(rule['Value'])}" for rule in rules))


def _notification_configuration(configuration: Any) -> Iterator[str]:
    if not isinstance(configuration, dict):
        return
    for key, field, kind in _DESTINATIONS:
        for config in configuration.get(key, []):
            events = _as_list(config.get("Events", config.get("Event")))
            target = config.get(f"{field}Arn", config.get(field))
            parts = ["notify", ", ".join(sorted(_text(event) for event in events)), _filter_rules(config)]
            yield " ".join(filter(None, [*parts, "->", kind, _text(target)]))
    if "EventBridgeConfiguration" in configuration:
        yield "notify all-events -> eventbridge"


def _bucket_notifications(props: Properties) -> Iterator[str]:
    if "BucketName" in props:
        managed = f" managed={_text(props['Managed'])}" if "Managed" in props else ""
        yield f"notify bucket={_text(props['BucketName'])}{managed}"
    yield from _notification_configuration(props.get("NotificationConfiguration"))


_ASYNC_FIELDS = {
    "OutputConfig.S3OutputPath": "output",
    "OutputConfig.S3FailurePath": "failure",
    "OutputConfig.KmsKeyId": "kms-key",
    "OutputConfig.NotificationConfig.SuccessTopic": "success-topic",
    "OutputConfig.NotificationConfig.ErrorTopic": "error-topic",
    "OutputConfig.NotificationConfig.IncludeInferenceResponseIn": "include-response-in",
    "ClientConfig.MaxConcurrentInvocationsPerInstance": "max-concurrent-invocations-per-instance",
}


def _async_output(props: Properties) -> Iterator[str]:
    config = props.get("AsyncInferenceConfig")
    for path, label in _ASYNC_FIELDS.items():
        value = _lookup(config, path)
        if value is not None:
            yield f"async {label}={_text(value)}"


def _vpc_endpoint(props: Properties) -> Iterator[str]:
    kind = _text(props.get("VpcEndpointType", "Gateway"))
    private_dns = f" private-dns={_text(props['PrivateDnsEnabled'])}" if "PrivateDnsEnabled" in props else ""
    yield f"endpoint service={_text(props.get('ServiceName'))} type={kind}{private_dns}"
    if "SecurityGroupIds" in props:
        yield f"endpoint security-groups={_items(props['SecurityGroupIds'])}"
    yield from _document("endpoint-policy", props.get("PolicyDocument"))


def _subscription(props: Properties) -> Iterator[str]:
    topic, protocol, endpoint = (_text(props.get(key)) for key in ("TopicArn", "Protocol", "Endpoint"))
    yield f"notify {topic} -> {protocol} {endpoint}"


def _rule_targets(props: Properties) -> Iterator[str]:
    for target in props.get("Targets", []):
        yield f"notify target {_text(target.get('Arn'))}"


def _event_source(props: Properties) -> Iterator[str]:
    yield f"notify {_text(props.get('EventSourceArn'))} -> lambda {_text(props.get('FunctionName'))}"


DETAILS: dict[str, tuple[Detail, ...]] = {
    "AWS::IAM::Policy": (_document_at("policy", "PolicyDocument"), _applies_to("Roles", "Users", "Groups")),
    "AWS::IAM::ManagedPolicy": (
        _document_at("policy", "PolicyDocument"),
        _applies_to("Roles", "Users", "Groups"),
    ),
    "AWS::IAM::Role": (_role_policies,),
    "AWS::S3::BucketPolicy": (_document_at("bucket-policy", "PolicyDocument"), _applies_to("Bucket")),
    "AWS::SQS::QueuePolicy": (_document_at("queue-policy", "PolicyDocument"), _applies_to("Queues")),
    "AWS::SNS::TopicPolicy": (_document_at("topic-policy", "PolicyDocument"), _applies_to("Topics")),
    "AWS::KMS::Key": (_document_at("key-policy", "KeyPolicy"),),
    "AWS::SecretsManager::ResourcePolicy": (
        _document_at("secret-policy", "ResourcePolicy"),
        _applies_to("SecretId"),
    ),
    "AWS::Lambda::Permission": (_lambda_permission,),
    "AWS::EC2::SecurityGroup": (_inline_rules,),
    "AWS::EC2::SecurityGroupIngress": (_rule_resource("ingress"),),
    "AWS::EC2::SecurityGroupEgress": (_rule_resource("egress"),),
    "AWS::Lambda::Function": (_lambda_environment, _lambda_network, _lambda_layers),
    "AWS::SageMaker::Model": (_model_environment,),
    "AWS::SageMaker::EndpointConfig": (_variants, _async_output),
    "AWS::EC2::Instance": (_instance_network,),
    "AWS::EC2::LaunchTemplate": (_launch_template_size,),
    "AWS::ApplicationAutoScaling::ScalingPolicy": (_target_tracking, _step_scaling),
    "AWS::S3::Bucket": (lambda props: _notification_configuration(props.get("NotificationConfiguration")),),
    "Custom::S3BucketNotifications": (_bucket_notifications,),
    "AWS::EC2::VPCEndpoint": (_vpc_endpoint,),
    "AWS::SNS::Subscription": (_subscription,),
    "AWS::Events::Rule": (_rule_targets,),
    "AWS::Lambda::EventSourceMapping": (_event_source,),
}


# --- the summary --------------------------------------------------------------------------------------------


def _header(logical_id: str, resource: dict[str, Any]) -> str:
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
    return " ".join(parts)


def details(resource: dict[str, Any]) -> list[str]:
    """The indented detail lines of one resource, sorted and masked."""
    props = resource.get("Properties") or {}
    lines = [line for detail in DETAILS.get(resource["Type"], ()) for line in detail(props)]
    return sorted(f"  {_mask(line)}" for line in lines)


def summarize(template: dict[str, Any]) -> list[str]:
    lines = []
    resources = template.get("Resources", {})
    for logical_id in sorted(resources, key=mask_logical_id):
        lines.append(_header(logical_id, resources[logical_id]))
        lines.extend(details(resources[logical_id]))
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
