"""Read the synthesized CloudFormation templates into a plan for the local stack.

The local stack creates exactly what the CDK app declares (buckets, queues with their
dead-letter queues, topics and subscriptions, tables, the upload notification, the
Lambdas' environment and event sources, the async endpoint's configuration), so the
two cannot drift apart. Intrinsic functions are resolved to local names and ARNs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reelsight.contract.names import ROLE_METADATA_KEY
from reelsight.errors import ParamError

REGION = "us-east-1"
ACCOUNT = "123456789012"


@dataclass
class Resource:
    stack: str
    logical_id: str
    type: str
    properties: dict[str, Any]
    metadata: dict[str, Any]
    physical_name: str = ""

    @property
    def role(self) -> str | None:
        """The ``reelsight:role`` the CDK app tags the resource with (metadata or tags), if any."""
        if ROLE_METADATA_KEY in self.metadata:
            return str(self.metadata[ROLE_METADATA_KEY])
        tags = self.properties.get("Tags")
        if isinstance(tags, list):
            for tag in tags:
                if isinstance(tag, dict) and tag.get("Key") == ROLE_METADATA_KEY:
                    return str(tag.get("Value"))
        if isinstance(tags, dict) and ROLE_METADATA_KEY in tags:
            return str(tags[ROLE_METADATA_KEY])
        return None


@dataclass
class QueuePlan:
    logical_id: str
    name: str
    url: str
    arn: str
    attributes: dict[str, str]
    role: str | None


@dataclass
class TopicPlan:
    logical_id: str
    name: str
    arn: str
    role: str | None


@dataclass
class SubscriptionPlan:
    topic_arn: str
    protocol: str
    endpoint: str
    attributes: dict[str, str]


@dataclass
class TablePlan:
    logical_id: str
    name: str
    key_schema: list[dict[str, str]]
    attribute_definitions: list[dict[str, str]]
    global_secondary_indexes: list[dict[str, Any]]
    ttl_attribute: str | None
    role: str | None


@dataclass
class BucketPlan:
    logical_id: str
    name: str
    versioned: bool
    role: str | None


@dataclass
class NotificationPlan:
    bucket: str
    configuration: dict[str, Any]  # S3 NotificationConfiguration with local ARNs


@dataclass
class FunctionPlan:
    logical_id: str
    name: str
    handler: str  # importable "module.attr" of our source tree
    environment: dict[str, str]
    timeout: int
    role: str | None


@dataclass
class EventSourcePlan:
    function: str  # FunctionPlan.name
    queue_url: str
    queue_arn: str
    batch_size: int
    report_batch_item_failures: bool
    batching_window: int


@dataclass
class EndpointPlan:
    name: str
    output_path: str
    failure_path: str
    success_topic: str | None
    error_topic: str | None
    max_concurrency: int
    instance_count: int
    include_response_in: list[str]
    container_environment: dict[str, str]


@dataclass
class RulePlan:
    """An EventBridge rule with its SQS targets: the local stack sends matching events there."""

    logical_id: str
    event_pattern: dict[str, Any]
    queue_arns: list[str]  # the planned queues' ARNs (their URLs may change as they are created)


@dataclass
class StackPlan:
    buckets: list[BucketPlan] = field(default_factory=list)
    queues: list[QueuePlan] = field(default_factory=list)
    topics: list[TopicPlan] = field(default_factory=list)
    subscriptions: list[SubscriptionPlan] = field(default_factory=list)
    tables: list[TablePlan] = field(default_factory=list)
    notifications: list[NotificationPlan] = field(default_factory=list)
    functions: list[FunctionPlan] = field(default_factory=list)
    event_sources: list[EventSourcePlan] = field(default_factory=list)
    endpoint: EndpointPlan | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    rules: list[RulePlan] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def _local_name(stack: str, logical_id: str, limit: int, lower: bool = False) -> str:
    name = f"{stack}-{logical_id}"
    name = re.sub(r"[^A-Za-z0-9-]", "-", name)
    if lower:
        name = name.lower()
    return name[:limit].strip("-")


class _Resolver:
    """Resolves Ref / Fn::GetAtt / Fn::Join / Fn::Sub / ... against local names."""

    def __init__(self, resources: dict[tuple[str, str], Resource], exports: dict[str, Any]) -> None:
        self.resources = resources
        self.exports = exports
        self.endpoint_base = "http://127.0.0.1"
        self._intrinsics: dict[str, Callable[[str, Any], Any]] = {
            "Ref": self.ref,
            "Fn::GetAtt": self._get_att_function,
            "Fn::Join": self._join,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
            "Fn::Sub": self._sub,
            "Fn::ImportValue": self._import_value,
            "Fn::If": self._if,
            "Fn::GetAZs": self._get_azs,
        }

    def find(self, stack: str, logical_id: str) -> Resource | None:
        return self.resources.get((stack, logical_id))

    def ref(self, stack: str, name: str) -> Any:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack,
            "AWS::NoValue": None,
        }
        if name in pseudo:
            return pseudo[name]
        res = self.find(stack, name)
        if res is None:
            return name  # parameters: their name is as good as anything locally
        if res.type == "AWS::SQS::Queue":
            return f"{self.endpoint_base}/{ACCOUNT}/{res.physical_name}"
        if res.type == "AWS::SNS::Topic":
            return f"arn:aws:sns:{REGION}:{ACCOUNT}:{res.physical_name}"
        return res.physical_name

    def get_att(self, stack: str, logical_id: str, attr: str) -> Any:
        res = self.find(stack, logical_id)
        if res is None:
            return f"{logical_id}.{attr}"
        name = res.physical_name
        arns = {
            "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}",
            "AWS::SNS::Topic": f"arn:aws:sns:{REGION}:{ACCOUNT}:{name}",
            "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}",
            "AWS::DynamoDB::GlobalTable": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
            "AWS::SageMaker::Endpoint": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{name.lower()}",
            "AWS::KMS::Key": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{name}",
        }
        if attr == "Arn" and res.type in arns:
            return arns[res.type]
        if attr in ("QueueName", "TopicName", "EndpointName", "Name"):
            return name
        if attr == "QueueUrl":
            return self.ref(stack, logical_id)
        if attr == "TopicArn":
            return arns.get("AWS::SNS::Topic")
        if attr in ("DomainName", "RegionalDomainName"):
            return f"{name}.s3.amazonaws.com"
        return f"arn:aws:local:{REGION}:{ACCOUNT}:{name}/{attr}"

    def resolve(self, stack: str, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(stack, v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            intrinsic = self._intrinsics.get(key)
            if intrinsic is not None:
                return intrinsic(stack, arg)
        return {k: self.resolve(stack, v) for k, v in value.items()}

    def _get_att_function(self, stack: str, arg: Any) -> Any:
        parts = arg.split(".", 1) if isinstance(arg, str) else arg
        return self.get_att(stack, parts[0], parts[1])

    def _join(self, stack: str, arg: Any) -> str:
        sep, items = arg
        return sep.join(str(self.resolve(stack, i)) for i in self.resolve(stack, items))

    def _select(self, stack: str, arg: Any) -> Any:
        index, items = arg
        return self.resolve(stack, items)[int(self.resolve(stack, index))]

    def _split(self, stack: str, arg: Any) -> list[str]:
        sep, text = arg
        return str(self.resolve(stack, text)).split(sep)

    def _import_value(self, stack: str, arg: Any) -> Any:
        export = self.resolve(stack, arg)
        if export not in self.exports:
            return export
        owner, raw = self.exports[export]
        return self.resolve(owner, raw)

    def _if(self, stack: str, arg: Any) -> Any:
        # Conditions are not evaluated locally: the local stack takes the "true" branch.
        _condition, when_true, _when_false = arg
        return self.resolve(stack, when_true)

    def _get_azs(self, stack: str, arg: Any) -> list[str]:
        return [f"{REGION}a", f"{REGION}b"]

    def _sub(self, stack: str, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def repl(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(stack, variables[name]))
            if "." in name and not name.startswith("AWS::"):
                logical, attr = name.split(".", 1)
                return str(self.get_att(stack, logical, attr))
            return str(self.ref(stack, name))

        return re.sub(r"\$\{([^}!]+)\}", repl, text)


def template_paths(cdk_out: str | Path) -> list[Path]:
    return sorted(Path(cdk_out).glob("*.template.json"))


def load_resources(paths: list[Path]) -> tuple[dict[tuple[str, str], Resource], dict[str, Any], _Resolver]:
    resources: dict[tuple[str, str], Resource] = {}
    exports: dict[str, Any] = {}
    outputs: dict[str, tuple[str, Any]] = {}
    for path in paths:
        stack = path.name.removesuffix(".template.json")
        doc = json.loads(path.read_text())
        for logical_id, body in (doc.get("Resources") or {}).items():
            res = Resource(
                stack=stack,
                logical_id=logical_id,
                type=str(body.get("Type", "")),
                properties=body.get("Properties") or {},
                metadata=body.get("Metadata") or {},
            )
            resources[(stack, logical_id)] = res
        for key, out in (doc.get("Outputs") or {}).items():
            outputs[key] = (stack, out.get("Value"))
            export = (out.get("Export") or {}).get("Name")
            if isinstance(export, str):
                exports[export] = (stack, out.get("Value"))
    resolver = _Resolver(resources, exports)
    _assign_names(resources, resolver)
    return resources, outputs, resolver


_NAME_PROPS = {
    "AWS::S3::Bucket": ("BucketName", 63, True),
    "AWS::SQS::Queue": ("QueueName", 80, False),
    "AWS::SNS::Topic": ("TopicName", 256, False),
    "AWS::DynamoDB::Table": ("TableName", 255, False),
    "AWS::DynamoDB::GlobalTable": ("TableName", 255, False),
    "AWS::Lambda::Function": ("FunctionName", 64, False),
    "AWS::SageMaker::Endpoint": ("EndpointName", 63, False),
    "AWS::SageMaker::EndpointConfig": ("EndpointConfigName", 63, False),
    "AWS::SageMaker::Model": ("ModelName", 63, False),
}


def _assign_names(resources: dict[tuple[str, str], Resource], resolver: _Resolver) -> None:
    # First every generated name, then explicit names (which may reference generated ones).
    for res in resources.values():
        prop, limit, lower = _NAME_PROPS.get(res.type, ("", 63, False))
        res.physical_name = _local_name(res.stack, res.logical_id, limit, lower)
        if res.type == "AWS::SQS::Queue" and res.properties.get("FifoQueue"):
            res.physical_name = res.physical_name[:75] + ".fifo"
    for res in resources.values():
        prop = _NAME_PROPS.get(res.type, ("",))[0]
        if prop and prop in res.properties:
            value = resolver.resolve(res.stack, res.properties[prop])
            if isinstance(value, str) and value:
                res.physical_name = value


def _as_str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): ("" if v is None else str(v)) for k, v in value.items()}


def _handler_module(res: Resource, handler: str) -> str:
    """Map a Lambda to the importable handler in this source tree."""
    if handler.startswith("lambdas."):
        return handler
    role = (res.role or "").lower()
    text = f"{role} {res.logical_id}".lower()
    for area in ("dispatch", "results"):
        if area in text:
            return f"lambdas.{area}.{handler}"
    asset = str(res.metadata.get("aws:asset:path", ""))
    return f"{asset.replace('/', '.')}.{handler}" if asset.startswith("lambdas") else handler


def build_plan(paths: list[Path], *, sqs_base_url: str = "http://127.0.0.1") -> StackPlan:
    """A ``StackPlan`` from synthesized templates; names and ARNs are resolved for the local stack."""
    if not paths:
        raise ParamError("no synthesized templates found (cdk.out/*.template.json); run `make synth` first")
    resources, outputs, resolver = load_resources(paths)
    resolver.endpoint_base = sqs_base_url.rstrip("/")
    by_type: dict[str, list[Resource]] = {}
    for res in resources.values():
        by_type.setdefault(res.type, []).append(res)
    buckets = _bucket_plans(by_type)
    queues = _queue_plans(by_type, resolver)
    topics, topic_subscriptions = _topic_plans(by_type, resolver)
    subscriptions = topic_subscriptions + _subscription_plans(by_type, resolver)
    tables = _table_plans(by_type, resolver)
    notifications = _notification_plans(by_type, resolver)
    functions = _function_plans(by_type, resolver)
    return StackPlan(
        buckets=buckets,
        queues=queues,
        topics=topics,
        subscriptions=subscriptions,
        tables=tables,
        notifications=notifications,
        functions=functions,
        event_sources=_event_source_plans(by_type, resolver, queues, functions),
        endpoint=_endpoint_plan(by_type, resolver),
        outputs=_output_values(outputs, resolver),
        rules=_rule_plans(by_type, resolver, queues),
    )


def _bucket_plans(by_type: dict[str, list[Resource]]) -> list[BucketPlan]:
    plans = []
    for res in by_type.get("AWS::S3::Bucket", []):
        versioning = res.properties.get("VersioningConfiguration") or {}
        plans.append(
            BucketPlan(res.logical_id, res.physical_name, versioning.get("Status") == "Enabled", res.role)
        )
    return plans


_QUEUE_ATTRIBUTES = (
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
    "MaximumMessageSize",
)


def _queue_plans(by_type: dict[str, list[Resource]], resolver: _Resolver) -> list[QueuePlan]:
    return [
        QueuePlan(
            res.logical_id,
            res.physical_name,
            resolver.ref(res.stack, res.logical_id),
            resolver.get_att(res.stack, res.logical_id, "Arn"),
            _queue_attributes(resolver.resolve(res.stack, res.properties)),
            res.role,
        )
        for res in by_type.get("AWS::SQS::Queue", [])
    ]


def _queue_attributes(props: dict[str, Any]) -> dict[str, str]:
    """The SQS CreateQueue attributes from a queue's resolved properties."""
    attrs = {prop: str(props[prop]) for prop in _QUEUE_ATTRIBUTES if prop in props}
    if props.get("FifoQueue"):
        attrs["FifoQueue"] = "true"
        if props.get("ContentBasedDeduplication"):
            attrs["ContentBasedDeduplication"] = "true"
    if "RedrivePolicy" in props:
        attrs["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
    return attrs


def _topic_plans(
    by_type: dict[str, list[Resource]], resolver: _Resolver
) -> tuple[list[TopicPlan], list[SubscriptionPlan]]:
    """The topics, and the subscriptions declared inline on them."""
    topics: list[TopicPlan] = []
    subscriptions: list[SubscriptionPlan] = []
    for res in by_type.get("AWS::SNS::Topic", []):
        arn = resolver.get_att(res.stack, res.logical_id, "Arn")
        topics.append(TopicPlan(res.logical_id, res.physical_name, arn, res.role))
        for sub in res.properties.get("Subscription") or []:
            sub = resolver.resolve(res.stack, sub)
            subscriptions.append(SubscriptionPlan(arn, sub["Protocol"], sub["Endpoint"], {}))
    return topics, subscriptions


def _subscription_plans(by_type: dict[str, list[Resource]], resolver: _Resolver) -> list[SubscriptionPlan]:
    """The ``AWS::SNS::Subscription`` resources."""
    plans = []
    for res in by_type.get("AWS::SNS::Subscription", []):
        props = resolver.resolve(res.stack, res.properties)
        plans.append(
            SubscriptionPlan(
                str(props["TopicArn"]),
                str(props["Protocol"]),
                str(props["Endpoint"]),
                _subscription_attributes(props),
            )
        )
    return plans


def _subscription_attributes(props: dict[str, Any]) -> dict[str, str]:
    attrs: dict[str, str] = {}
    if props.get("RawMessageDelivery") in (True, "true", "True"):
        attrs["RawMessageDelivery"] = "true"
    if "FilterPolicy" in props:
        attrs["FilterPolicy"] = json.dumps(props["FilterPolicy"])
    if "FilterPolicyScope" in props:
        attrs["FilterPolicyScope"] = str(props["FilterPolicyScope"])
    if "RedrivePolicy" in props:
        attrs["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
    return attrs


def _table_plans(by_type: dict[str, list[Resource]], resolver: _Resolver) -> list[TablePlan]:
    plans = []
    for res in by_type.get("AWS::DynamoDB::Table", []) + by_type.get("AWS::DynamoDB::GlobalTable", []):
        props = resolver.resolve(res.stack, res.properties)
        gsis = [
            {
                "IndexName": gsi["IndexName"],
                "KeySchema": gsi["KeySchema"],
                "Projection": gsi.get("Projection") or {"ProjectionType": "ALL"},
            }
            for gsi in props.get("GlobalSecondaryIndexes") or []
        ]
        ttl = (props.get("TimeToLiveSpecification") or {}).get("AttributeName")
        plans.append(
            TablePlan(
                res.logical_id,
                res.physical_name,
                props["KeySchema"],
                props["AttributeDefinitions"],
                gsis,
                ttl,
                res.role,
            )
        )
    return plans


def _notification_plans(by_type: dict[str, list[Resource]], resolver: _Resolver) -> list[NotificationPlan]:
    """CDK's notification custom resources first, then notifications declared on the buckets."""
    plans = []
    for res in by_type.get("Custom::S3BucketNotifications", []):
        props = resolver.resolve(res.stack, res.properties)
        plans.append(NotificationPlan(str(props["BucketName"]), props.get("NotificationConfiguration") or {}))
    for res in by_type.get("AWS::S3::Bucket", []):
        config = res.properties.get("NotificationConfiguration")
        if config:
            plans.append(NotificationPlan(res.physical_name, resolver.resolve(res.stack, config)))
    return plans


def _function_plans(by_type: dict[str, list[Resource]], resolver: _Resolver) -> list[FunctionPlan]:
    """Our Python Lambdas (not CDK's own custom-resource providers)."""
    plans = []
    for res in by_type.get("AWS::Lambda::Function", []):
        props = res.properties
        runtime = str(props.get("Runtime", ""))
        if not runtime.startswith("python") or res.logical_id.startswith(
            ("BucketNotificationsHandler", "Custom")
        ):
            continue
        env = _as_str_map(resolver.resolve(res.stack, (props.get("Environment") or {}).get("Variables")))
        handler = _handler_module(res, str(props.get("Handler", "")))
        plans.append(
            FunctionPlan(
                res.logical_id, res.physical_name, handler, env, int(props.get("Timeout", 3)), res.role
            )
        )
    return plans


def _event_source_plans(
    by_type: dict[str, list[Resource]],
    resolver: _Resolver,
    queues: list[QueuePlan],
    functions: list[FunctionPlan],
) -> list[EventSourcePlan]:
    """The enabled SQS event source mappings of the planned functions."""
    queues_by_arn = {q.arn: q for q in queues}
    # Keyed by logical id first: of two functions with one logical id (two stacks), the later one counts.
    by_logical_id = {f.logical_id: f for f in functions}
    functions_by_name = {f.name: f for f in by_logical_id.values()}
    plans = []
    for res in by_type.get("AWS::Lambda::EventSourceMapping", []):
        props = resolver.resolve(res.stack, res.properties)
        function = functions_by_name.get(str(props.get("FunctionName")))
        queue = queues_by_arn.get(str(props.get("EventSourceArn")))  # also across stacks (Fn::ImportValue)
        if function is None or queue is None or props.get("Enabled") in (False, "false"):
            continue
        plans.append(
            EventSourcePlan(
                function=function.name,
                queue_url=queue.url,
                queue_arn=queue.arn,
                batch_size=int(props.get("BatchSize", 10)),
                report_batch_item_failures="ReportBatchItemFailures"
                in (props.get("FunctionResponseTypes") or []),
                batching_window=int(props.get("MaximumBatchingWindowInSeconds", 0)),
            )
        )
    return plans


def _rule_plans(
    by_type: dict[str, list[Resource]], resolver: _Resolver, queues: list[QueuePlan]
) -> list[RulePlan]:
    """The enabled EventBridge rules that target queues of the plan (other targets are not local)."""
    queues_by_arn = {q.arn: q for q in queues}
    plans = []
    for res in by_type.get("AWS::Events::Rule", []):
        props = resolver.resolve(res.stack, res.properties)
        if props.get("State", "ENABLED") != "ENABLED" or not isinstance(props.get("EventPattern"), dict):
            continue
        arns = [
            str(target.get("Arn"))
            for target in props.get("Targets") or []
            if isinstance(target, dict) and str(target.get("Arn")) in queues_by_arn
        ]
        if arns:
            plans.append(RulePlan(res.logical_id, props["EventPattern"], arns))
    return plans


def _output_values(outputs: dict[str, tuple[str, Any]], resolver: _Resolver) -> dict[str, str]:
    """The stack outputs that resolve to strings."""
    values = {}
    for key, (stack, value) in outputs.items():
        resolved = resolver.resolve(stack, value)
        if isinstance(resolved, str):
            values[key] = resolved
    return values


def _endpoint_plan(by_type: dict[str, list[Resource]], resolver: _Resolver) -> EndpointPlan | None:
    endpoints = by_type.get("AWS::SageMaker::Endpoint", [])
    configs = {(r.stack, r.logical_id): r for r in by_type.get("AWS::SageMaker::EndpointConfig", [])}
    models = {(r.stack, r.logical_id): r for r in by_type.get("AWS::SageMaker::Model", [])}
    if not endpoints:
        return None
    endpoint = endpoints[0]
    config_ref = endpoint.properties.get("EndpointConfigName")
    config = None
    if isinstance(config_ref, dict) and "Fn::GetAtt" in config_ref:
        att = config_ref["Fn::GetAtt"]
        config = configs.get((endpoint.stack, att.split(".")[0] if isinstance(att, str) else att[0]))
    elif isinstance(config_ref, dict) and "Ref" in config_ref:
        config = configs.get((endpoint.stack, config_ref["Ref"]))
    if config is None and configs:
        config = next(iter(configs.values()))
    if config is None:
        return None
    props = resolver.resolve(config.stack, config.properties)
    async_cfg = props.get("AsyncInferenceConfig") or {}
    output = async_cfg.get("OutputConfig") or {}
    notify = output.get("NotificationConfig") or {}
    client = async_cfg.get("ClientConfig") or {}
    variants = props.get("ProductionVariants") or [{}]
    container_env: dict[str, str] = {}
    model_name = variants[0].get("ModelName")
    for model in models.values():
        if model.physical_name == model_name or len(models) == 1:
            mprops = resolver.resolve(model.stack, model.properties)
            container = mprops.get("PrimaryContainer") or (mprops.get("Containers") or [{}])[0]
            container_env = _as_str_map(container.get("Environment"))
            break
    return EndpointPlan(
        name=endpoint.physical_name,
        output_path=str(output.get("S3OutputPath", "")),
        failure_path=str(output.get("S3FailurePath") or output.get("S3OutputPath", "")),
        success_topic=notify.get("SuccessTopic"),
        error_topic=notify.get("ErrorTopic"),
        max_concurrency=int(client.get("MaxConcurrentInvocationsPerInstance", 1) or 1),
        instance_count=max(int(variants[0].get("InitialInstanceCount", 1) or 1), 1),
        include_response_in=list(notify.get("IncludeInferenceResponseIn") or []),
        container_environment=container_env,
    )
