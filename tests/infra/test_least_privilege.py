"""Least privilege, alarms for silent failures, and a NAT-free boot of the API host, on the templates."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest

from reelsight.contract.names import PROCESSING_JOB_PREFIX
from stacks.constructs.monitoring import SILENT_ENDPOINT_FAILURES
from stacks.constructs.network import API_HOST_ENDPOINTS, INTERFACE_ENDPOINTS
from stacks.constructs.processing_role import UNSCOPED_ENI_ACTIONS
from tests.infra.synth import Synthesized
from tests.infra.test_templates import API, NETWORK, PIPELINE, as_list, by_role, one

RESULTS_ARN = "ReelsightData-ResultsBucketArn"
INPUT_ARN = "ReelsightData-InputBucketArn"


def role_statements(synthesized: Synthesized, stack: str, role_id: str) -> list[dict[str, Any]]:
    """Every statement of the identity policies attached to ``role_id``."""
    found = []
    for resource in synthesized.resources(stack, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in resource["Properties"].get("Roles", []):
            found.extend(resource["Properties"]["PolicyDocument"]["Statement"])
    assert found, f"no policy attached to {role_id}"
    return found


def api_role(synthesized: Synthesized) -> str:
    _, _, instance = by_role(synthesized, "api-instance")
    profile_id = instance["Properties"]["IamInstanceProfile"]["Ref"]
    profile = synthesized.resources(API)[profile_id]
    (role,) = profile["Properties"]["Roles"]
    return str(role["Ref"])


def endpoint_role(synthesized: Synthesized) -> str:
    _, _, model = by_role(synthesized, "worker-model")
    return str(model["Properties"]["ExecutionRoleArn"]["Fn::GetAtt"][0])


def processing_role(synthesized: Synthesized) -> str:
    return by_role(synthesized, "processing-role")[1]


def s3_grants(statements: list[dict[str, Any]], bucket_export: str) -> list[tuple[list[str], list[str]]]:
    """(actions, resources) of the S3 statements naming ``bucket_export``, resources as readable text."""
    grants = []
    for statement in statements:
        resources = [json.dumps(r) for r in as_list(statement["Resource"])]
        if any(bucket_export in r for r in resources):
            actions = [a for a in as_list(statement["Action"]) if a.startswith("s3:")]
            if actions:
                grants.append((actions, [_suffix(r, bucket_export) for r in resources if bucket_export in r]))
    return grants


def _suffix(resource: str, bucket_export: str) -> str:
    """What follows the bucket ARN: "" for the bucket itself, "/jobs/*" for a prefix."""
    text = json.loads(resource)
    parts = text["Fn::Join"][1] if isinstance(text, dict) and "Fn::Join" in text else [text]
    tail = "".join(p for p in parts if isinstance(p, str))
    return tail


def assert_exact_s3_actions(grants: list[tuple[list[str], list[str]]]) -> None:
    for actions, _ in grants:
        assert all("*" not in action for action in actions), actions


# --- finding 6: the grants ---------------------------------------------------------------------------------


def test_api_role_reads_and_lists_only_job_results(synthesized: Synthesized) -> None:
    statements = role_statements(synthesized, API, api_role(synthesized))
    results = s3_grants(statements, RESULTS_ARN)
    assert_exact_s3_actions(results)
    assert sorted((sorted(a), sorted(r)) for a, r in results) == [
        (["s3:GetObject"], ["/async/failure/*", "/jobs/*"]),
        (["s3:ListBucket"], [""]),
    ]
    (listing,) = [s for s in statements if s["Action"] == "s3:ListBucket"]
    assert as_list(listing["Condition"]["StringLike"]["s3:prefix"]) == ["jobs/*"]
    uploads = s3_grants(statements, INPUT_ARN)
    assert sorted(uploads) == [
        (["s3:PutObject"], ["/batch/*.batch.json"]),
        (["s3:PutObject"], ["/incoming/*"]),
    ]


@pytest.mark.parametrize("role", ["endpoint", "processing"])
def test_worker_and_processing_roles_cannot_delete_or_roam(synthesized: Synthesized, role: str) -> None:
    role_id = endpoint_role(synthesized) if role == "endpoint" else processing_role(synthesized)
    statements = role_statements(synthesized, PIPELINE, role_id)
    every_action = [a for s in statements for a in as_list(s["Action"])]
    assert not fnmatch.filter(every_action, "s3:Delete*") and "s3:*" not in every_action
    results = s3_grants(statements, RESULTS_ARN)
    assert_exact_s3_actions(results)
    writes = {"endpoint": ["/async/failure/*", "/async/output/*", "/jobs/*"], "processing": ["/jobs/*"]}
    expected = [(["s3:AbortMultipartUpload", "s3:PutObject"], writes[role])]
    if role == "processing":  # a job's plan and manifest, and its hosts' part markers, under jobs/ only
        expected += [(["s3:GetObject"], ["/jobs/*"]), (["s3:ListBucket"], [""])]
    assert sorted((sorted(a), sorted(r)) for a, r in results) == sorted(expected)
    inputs = s3_grants(statements, INPUT_ARN)
    assert_exact_s3_actions(inputs)
    reads = [(["s3:GetObject"], ["/batch/*", "/incoming/*"])]
    if role == "processing":  # batches also name videos kept under library/; listing stays prefix-bound
        reads = [(["s3:GetObject"], ["/batch/*", "/incoming/*", "/library/*"]), (["s3:ListBucket"], [""])]
    assert sorted((sorted(a), sorted(r)) for a, r in inputs) == reads


def test_eventbridge_sends_to_the_results_queue_only_for_its_rule(synthesized: Synthesized) -> None:
    _, queue_id, _ = by_role(synthesized, "results-queue")
    _, rule_id, rule = by_role(synthesized, "processing-state-rule")
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in synthesized.resources(PIPELINE, "AWS::SQS::QueuePolicy").values()
        if {"Ref": queue_id} in p["Properties"]["Queues"]
    ]
    from_events = [s for s in one_list(policies) if s.get("Principal") == {"Service": "events.amazonaws.com"}]
    (statement,) = from_events
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"]["ArnEquals"] == {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def one_list(lists: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    assert len(lists) == 1, len(lists)
    return lists[0]


def test_processing_network_interfaces_are_held_to_the_vpc_and_subnets(synthesized: Synthesized) -> None:
    statements = role_statements(synthesized, PIPELINE, processing_role(synthesized))
    definition = json.dumps(
        _dispatcher_env(synthesized)["REELSIGHT_PROCESSING_JOB_DEFINITION"]
    )  # the subnets and security group every job is started with
    ec2 = [s for s in statements if any(a.startswith("ec2:") for a in as_list(s["Action"]))]
    by_sid = {s["Sid"]: s for s in ec2}
    enis = by_sid["NetworkInterfacesInJobSubnets"]
    assert sorted(as_list(enis["Action"])) == [
        "ec2:CreateNetworkInterface",
        "ec2:CreateNetworkInterfacePermission",
        "ec2:DeleteNetworkInterface",
    ]
    assert ":network-interface/*" in json.dumps(enis["Resource"])
    conditions = enis["Condition"]["ArnEquals"]
    assert ":vpc/" in json.dumps(conditions["ec2:Vpc"]) and "NetworkVpc" in json.dumps(conditions["ec2:Vpc"])
    subnets = conditions["ec2:Subnet"]
    assert len(subnets) == 2 and all(":subnet/" in json.dumps(s) for s in subnets)
    for subnet in subnets:
        imported = next(part for part in subnet["Fn::Join"][1] if "Fn::ImportValue" in part)
        assert json.dumps(imported) in definition
    placed = by_sid["JobSubnetsAndSecurityGroup"]
    assert placed["Action"] == "ec2:CreateNetworkInterface"
    assert "*" not in json.dumps(placed["Resource"]) and ":security-group/" in json.dumps(placed["Resource"])
    unscoped = [s for s in ec2 if s["Resource"] == "*"]
    assert [sorted(as_list(s["Action"])) for s in unscoped] == [sorted(UNSCOPED_ENI_ACTIONS)]
    assert not any(
        a.startswith("ec2:Create") or a == "ec2:DeleteNetworkInterface" for a in UNSCOPED_ENI_ACTIONS
    )


def _dispatcher_env(synthesized: Synthesized) -> dict[str, Any]:
    _, _, function = by_role(synthesized, "dispatch-function")
    return dict(function["Properties"]["Environment"]["Variables"])


def test_resource_wildcards_are_only_where_aws_allows_no_resource(synthesized: Synthesized) -> None:
    """Resource "*" on the three roles is left only for actions without resource-level permissions
    (or, for PutMetricData, scoped by its namespace condition); cdk-nag holds each to a reason."""
    allowed = {*UNSCOPED_ENI_ACTIONS, "ecr:GetAuthorizationToken"}
    roles = [
        (API, api_role(synthesized)),
        (PIPELINE, endpoint_role(synthesized)),
        (PIPELINE, processing_role(synthesized)),
    ]
    for stack, role_id in roles:
        for statement in role_statements(synthesized, stack, role_id):
            if "*" not in as_list(statement["Resource"]):
                continue
            actions = set(as_list(statement["Action"]))
            if actions == {"cloudwatch:PutMetricData"}:
                assert "cloudwatch:namespace" in json.dumps(statement["Condition"]), role_id
                continue
            assert actions <= allowed, (role_id, actions)


# --- alarms ------------------------------------------------------------------------------------------------


def alarm_metric(props: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(namespace, metric name, dimensions) of a single-metric alarm, in either of CDK's two forms."""
    if "MetricName" in props:
        metric = props
    else:
        (query,) = props["Metrics"]
        metric = query["MetricStat"]["Metric"]
    dimensions = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
    return metric["Namespace"], metric["MetricName"], dimensions


def alarms(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in synthesized.resources(PIPELINE, "AWS::CloudWatch::Alarm").items()
        if logical_id.startswith("Monitoring")
    }


def test_every_alarm_goes_to_the_ops_topic_and_is_on_the_dashboard(synthesized: Synthesized) -> None:
    _, ops_topic_id, _ = by_role(synthesized, "ops-topic")
    _, _, dashboard = by_role(synthesized, "dashboard")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    found = alarms(synthesized)
    assert len(found) >= 11
    for logical_id, props in found.items():
        assert props["AlarmActions"] == [{"Ref": ops_topic_id}], logical_id
        assert json.dumps({"Fn::GetAtt": [logical_id, "Arn"]}) in body, logical_id
    assert '\\"type\\":\\"alarm\\"' in body


def test_async_failures_that_no_job_record_shows_raise_alarms(synthesized: Synthesized) -> None:
    _, endpoint_id, _ = by_role(synthesized, "async-endpoint")
    by_metric = {alarm_metric(props)[1]: alarm_metric(props) for props in alarms(synthesized).values()}
    assert set(SILENT_ENDPOINT_FAILURES) == {
        "NotificationFailures",
        "RequestDownloadFailures",
        "ResponseUploadFailures",
        "ExpiredRequests",
    }
    for name in SILENT_ENDPOINT_FAILURES:
        namespace, _, dimensions = by_metric[name]
        assert namespace == "AWS/SageMaker"
        assert dimensions == {
            "EndpointName": {"Fn::GetAtt": [endpoint_id, "EndpointName"]},
            "VariantName": "AllTraffic",
        }


def test_failed_processing_jobs_raise_an_alarm(synthesized: Synthesized) -> None:
    _, rule_id, rule = by_role(synthesized, "processing-failure-rule")
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.sagemaker"]
    assert pattern["detail"]["ProcessingJobStatus"] == ["Failed"]
    assert pattern["detail"]["ProcessingJobName"] == [{"prefix": PROCESSING_JOB_PREFIX}]
    matching = [
        props
        for props in alarms(synthesized).values()
        if alarm_metric(props) == ("AWS/Events", "TriggeredRules", {"RuleName": {"Ref": rule_id}})
    ]
    (alarm,) = matching
    assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_results_lambda_errors_and_every_dead_letter_queue_raise_alarms(synthesized: Synthesized) -> None:
    _, results_id, _ = by_role(synthesized, "results-function")
    _, results_dlq_id, _ = by_role(synthesized, "results-dead-letter-queue")
    metrics = [alarm_metric(props) for props in alarms(synthesized).values()]
    assert ("AWS/Lambda", "Errors", {"FunctionName": {"Ref": results_id}}) in metrics
    depths = [dims["QueueName"] for ns, name, dims in metrics if name == "ApproximateNumberOfMessagesVisible"]
    assert {"Fn::GetAtt": [results_dlq_id, "QueueName"]} in depths
    assert {"Fn::ImportValue": "ReelsightData-UploadDeadLetterQueueName"} in depths
    dead_letter_queues = [
        logical_id
        for stack in synthesized.templates
        for logical_id, resource in synthesized.resources(stack, "AWS::SQS::Queue").items()
        if "DeadLetter" in logical_id
    ]
    assert len(depths) == len(dead_letter_queues) == 2


# --- the API host boots without NAT ------------------------------------------------------------------------


def gateway_policy(synthesized: Synthesized) -> list[dict[str, Any]]:
    _, _, endpoint = by_role(synthesized, "s3-gateway-endpoint")
    assert "s3" in json.dumps(endpoint["Properties"]["ServiceName"])
    assert endpoint["Properties"]["VpcEndpointType"] == "Gateway"
    return list(endpoint["Properties"]["PolicyDocument"]["Statement"])


def test_s3_gateway_endpoint_admits_what_the_api_host_boot_reads(synthesized: Synthesized) -> None:
    _, _, instance = by_role(synthesized, "api-instance")
    user_data = json.dumps(instance["Properties"]["UserData"])
    assert "dnf install -y docker" in user_data and "docker pull" in user_data
    by_sid = {s["Sid"]: s for s in gateway_policy(synthesized)}
    for sid, bucket in (
        ("AmazonLinuxRepositories", "al2023-repos-{region}-de612dc2"),
        ("EcrImageLayers", "prod-{region}-starport-layer-bucket"),
    ):
        statement = by_sid[sid]
        assert statement["Effect"] == "Allow" and statement["Action"] == "s3:GetObject"
        resource = statement["Resource"]
        expected = ["arn:", {"Ref": "AWS::Partition"}, ":s3:::" + bucket.split("{region}")[0]]
        expected += [{"Ref": "AWS::Region"}, bucket.split("{region}")[1] + "/*"]
        assert resource == {"Fn::Join": ["", expected]}, (sid, resource)


def test_s3_gateway_endpoint_admits_only_reelsight_buckets_of_its_account(synthesized: Synthesized) -> None:
    statements = gateway_policy(synthesized)
    own = next(s for s in statements if s["Sid"] == "ReelsightBuckets")
    assert own["Condition"] == {"StringEquals": {"aws:PrincipalAccount": {"Ref": "AWS::AccountId"}}}
    resources = json.dumps(own["Resource"])
    assert resources.count("InputBucketArn") == 2 and resources.count("ResultsBucketArn") == 2
    assert not any(a in ("s3:*", "*") or a.startswith("s3:Delete") for a in as_list(own["Action"]))
    for statement in statements:
        if statement is not own:  # AWS-owned buckets: object reads only
            assert statement["Action"] == "s3:GetObject", statement["Sid"]
        assert all(r != "*" for r in as_list(statement["Resource"])), statement["Sid"]


def test_interface_endpoints_the_api_host_needs_exist(synthesized: Synthesized) -> None:
    interfaces = {
        logical_id: resource
        for logical_id, resource in synthesized.resources(NETWORK, "AWS::EC2::VPCEndpoint").items()
        if resource["Properties"].get("VpcEndpointType") == "Interface"
    }
    services = {
        "EcrApi": "ecr.api",
        "EcrDocker": "ecr.dkr",
        "Ssm": "ssm",
        "SsmMessages": "ssmmessages",
        "Ec2Messages": "ec2messages",
        "SecretsManager": "secretsmanager",
    }
    assert set(API_HOST_ENDPOINTS) == set(services) and set(API_HOST_ENDPOINTS) <= set(INTERFACE_ENDPOINTS)
    for name, service in services.items():
        logical_id, endpoint = one({k: v for k, v in interfaces.items() if service_of(v) == service})
        assert logical_id.startswith(f"NetworkVpc{name}"), logical_id
        props = endpoint["Properties"]
        assert props["PrivateDnsEnabled"] is True and len(props["SubnetIds"]) == 2, logical_id
    template = synthesized.templates[NETWORK]["Resources"]
    assert not [
        r for r in template.values() if r["Type"] in ("AWS::EC2::NatGateway", "AWS::EC2::InternetGateway")
    ]


def service_of(endpoint: dict[str, Any]) -> str:
    """``ecr.dkr`` of ``com.amazonaws.<region>.ecr.dkr`` (CloudFormation joins the region in)."""
    name = endpoint["Properties"]["ServiceName"]
    tail = name["Fn::Join"][1][-1] if isinstance(name, dict) else name
    return str(tail).split(".", 1)[1] if str(tail).startswith(".") else str(tail).rsplit(".", 1)[-1]
