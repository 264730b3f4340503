"""Assertions on the synthesized CloudFormation templates."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from reelsight import envvars
from reelsight.contract.names import ROLE_METADATA_KEY, VIDEO_SUFFIXES, WATCHED_PREFIXES
from reelsight.contract.processing import ProcessingJobDefinition
from stacks.data_stack import PINNED_LOGICAL_IDS
from stacks.pipeline_stack import PINNED_LOGICAL_IDS as PIPELINE_PINNED_LOGICAL_IDS
from tests.infra.synth import Synthesized

DATA, NETWORK, API, PIPELINE = "ReelsightData", "ReelsightNetwork", "ReelsightApi", "ReelsightPipeline"


def template(synthesized: Synthesized, stack: str) -> Template:
    return Template.from_json(synthesized.templates[stack])


def by_role(synthesized: Synthesized, role: str) -> tuple[str, str, dict[str, Any]]:
    found = [
        (stack, logical_id, resource)
        for stack in synthesized.templates
        for logical_id, resource in synthesized.resources(stack).items()
        if (resource.get("Metadata") or {}).get(ROLE_METADATA_KEY) == role
    ]
    assert len(found) == 1, f"expected one resource with role {role!r}, found {len(found)}"
    return found[0]


def one(resources: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    assert len(resources) == 1, sorted(resources)
    return next(iter(resources.items()))


def walk(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from walk(child)
    elif isinstance(value, list):
        for child in value:
            yield from walk(child)


def statements(synthesized: Synthesized) -> Iterator[tuple[str, dict[str, Any]]]:
    for stack, tpl in synthesized.templates.items():
        for logical_id, resource in tpl["Resources"].items():
            for node in walk(resource.get("Properties", {})):
                if "Effect" in node and ("Action" in node or "NotAction" in node):
                    yield f"{stack}/{logical_id}", node


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- async endpoint ----------------------------------------------------------------------------------------


def test_async_inference_config(synthesized: Synthesized) -> None:
    _, endpoint_config_id, config = by_role(synthesized, "async-endpoint-config")
    _, success_id, _ = by_role(synthesized, "async-success-topic")
    _, error_id, _ = by_role(synthesized, "async-error-topic")
    props = config["Properties"]
    async_config = props["AsyncInferenceConfig"]
    assert async_config["ClientConfig"] == {"MaxConcurrentInvocationsPerInstance": 2}
    output = async_config["OutputConfig"]
    output_path = json.dumps(output["S3OutputPath"])
    failure_path = json.dumps(output["S3FailurePath"])
    assert "async/output" in output_path and "ResultsBucketName" in output_path
    assert "async/failure" in failure_path and "ResultsBucketName" in failure_path
    assert "DataKeyArn" in json.dumps(output["KmsKeyId"])
    assert output["NotificationConfig"] == {
        "SuccessTopic": {"Ref": success_id},
        "ErrorTopic": {"Ref": error_id},
        "IncludeInferenceResponseIn": ["SUCCESS_NOTIFICATION_TOPIC"],
    }
    assert props["ProductionVariants"][0]["InstanceType"] == "ml.g4dn.xlarge"
    assert props["ProductionVariants"][0]["VariantName"] == "AllTraffic"
    del endpoint_config_id


def test_model_environment_names_come_from_envvars(synthesized: Synthesized) -> None:
    _, _, model = by_role(synthesized, "worker-model")
    environment = model["Properties"]["PrimaryContainer"]["Environment"]
    assert environment[envvars.MODEL] == "maskrcnn"
    assert environment[envvars.FPS] == "1"
    assert environment[envvars.MAX_CONCURRENCY] == "2"
    assert "ResultsBucketName" in json.dumps(environment[envvars.ARTIFACT_BUCKET])


def test_endpoint_role_publishes_to_both_topics(synthesized: Synthesized) -> None:
    _, success_id, _ = by_role(synthesized, "async-success-topic")
    _, error_id, _ = by_role(synthesized, "async-error-topic")
    policies = synthesized.resources(PIPELINE, "AWS::IAM::Policy")
    worker_policy = next(p for lid, p in policies.items() if lid.startswith("WorkerRoleDefaultPolicy"))
    published = [
        json.dumps(resource)
        for s in worker_policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Action"] == "sns:Publish"
        for resource in as_list(s["Resource"])
    ]
    assert sorted(published) == sorted(json.dumps({"Ref": topic}) for topic in (success_id, error_id))


# --- autoscaling -------------------------------------------------------------------------------------------


def test_scaling_target_and_policies(synthesized: Synthesized) -> None:
    _, target_id, target = by_role(synthesized, "endpoint-scalable-target")
    _, endpoint_id, _ = by_role(synthesized, "async-endpoint")
    props = target["Properties"]
    assert (props["MinCapacity"], props["MaxCapacity"]) == (0, 5)
    assert props["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert props["ServiceNamespace"] == "sagemaker"
    assert "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint" in json.dumps(props["RoleARN"])
    assert props["ResourceId"] == {
        "Fn::Join": ["", ["endpoint/", {"Fn::GetAtt": [endpoint_id, "EndpointName"]}, "/variant/AllTraffic"]]
    }
    # Deploy registers the target after the endpoint; destroy deregisters it before deleting the endpoint.
    assert endpoint_id in as_list(target.get("DependsOn", []))

    pipeline = template(synthesized, PIPELINE)
    pipeline.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyType": "TargetTrackingScaling",
            "ScalingTargetId": {"Ref": target_id},
            "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                {
                    "TargetValue": 5,
                    "ScaleInCooldown": 300,
                    "ScaleOutCooldown": 120,
                    "CustomizedMetricSpecification": Match.object_like(
                        {
                            "MetricName": "ApproximateBacklogSizePerInstance",
                            "Namespace": "AWS/SageMaker",
                            "Dimensions": [
                                {
                                    "Name": "EndpointName",
                                    "Value": {"Fn::GetAtt": [endpoint_id, "EndpointName"]},
                                }
                            ],
                        }
                    ),
                }
            ),
        },
    )


def test_scale_from_zero_alarm_drives_step_policy(synthesized: Synthesized) -> None:
    _, alarm_id, alarm = by_role(synthesized, "scale-from-zero-alarm")
    _, endpoint_id, _ = by_role(synthesized, "async-endpoint")
    props = alarm["Properties"]
    assert props["MetricName"] == "HasBacklogWithoutCapacity"
    assert props["Namespace"] == "AWS/SageMaker"
    assert props["Dimensions"] == [
        {"Name": "EndpointName", "Value": {"Fn::GetAtt": [endpoint_id, "EndpointName"]}}
    ]
    assert (props["Statistic"], props["Period"], props["Threshold"]) == ("Average", 60, 1)
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert (props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (2, 2)
    (action,) = props["AlarmActions"]
    step_id = action["Ref"]
    step = synthesized.resources(PIPELINE)[step_id]
    assert step["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy"
    config = step["Properties"]["StepScalingPolicyConfiguration"]
    assert step["Properties"]["PolicyType"] == "StepScaling"
    assert config["AdjustmentType"] == "ChangeInCapacity"
    assert [a["ScalingAdjustment"] for a in config["StepAdjustments"]] == [1]
    del alarm_id


# --- data --------------------------------------------------------------------------------------------------


def test_stateful_logical_ids_are_pinned(synthesized: Synthesized) -> None:
    resources = synthesized.resources(DATA)
    expected_types = {
        "key": "AWS::KMS::Key",
        "input_bucket": "AWS::S3::Bucket",
        "results_bucket": "AWS::S3::Bucket",
        "access_log_bucket": "AWS::S3::Bucket",
        "jobs_table": "AWS::DynamoDB::Table",
        "idempotency_table": "AWS::DynamoDB::Table",
        "upload_queue": "AWS::SQS::Queue",
        "upload_dead_letter_queue": "AWS::SQS::Queue",
    }
    assert PINNED_LOGICAL_IDS == {
        "key": "DataKey",
        "input_bucket": "InputBucket",
        "results_bucket": "ResultsBucket",
        "access_log_bucket": "AccessLogBucket",
        "jobs_table": "JobsTable",
        "idempotency_table": "IdempotencyTable",
        "upload_queue": "UploadQueue",
        "upload_dead_letter_queue": "UploadDeadLetterQueue",
    }
    for name, logical_id in PINNED_LOGICAL_IDS.items():
        assert resources[logical_id]["Type"] == expected_types[name]
    for logical_id in ("DataKey", "InputBucket", "ResultsBucket", "JobsTable", "IdempotencyTable"):
        assert resources[logical_id]["DeletionPolicy"] == "Retain"


def test_pipeline_queues_functions_and_log_groups_keep_their_logical_ids(synthesized: Synthesized) -> None:
    """The IDs they had when one construct built both Lambdas: a new ID would replace the resource."""
    resources = synthesized.resources(PIPELINE)
    assert PIPELINE_PINNED_LOGICAL_IDS == {
        "dispatcher_function": "FunctionsDispatcher9716EDF0",
        "dispatcher_log_group": "FunctionsDispatcherLogsCE580B9D",
        "results_function": "FunctionsResults249330AF",
        "results_log_group": "FunctionsResultsLogs9C413DF3",
        "results_queue": "FunctionsResultsQueueE4DD63C0",
        "results_dead_letter_queue": "FunctionsResultsDeadLetterQueue5E0E1F02",
    }
    expected = {
        "dispatcher_function": ("AWS::Lambda::Function", "dispatch-function"),
        "dispatcher_log_group": ("AWS::Logs::LogGroup", None),
        "results_function": ("AWS::Lambda::Function", "results-function"),
        "results_log_group": ("AWS::Logs::LogGroup", None),
        "results_queue": ("AWS::SQS::Queue", "results-queue"),
        "results_dead_letter_queue": ("AWS::SQS::Queue", "results-dead-letter-queue"),
    }
    for name, logical_id in PIPELINE_PINNED_LOGICAL_IDS.items():
        resource = resources[logical_id]
        role = (resource.get("Metadata") or {}).get(ROLE_METADATA_KEY)
        assert (resource["Type"], role) == expected[name], name
    # Their roles, policies, event source mappings, subscriptions and queue policies keep theirs too.
    for logical_id in (
        "FunctionsDispatcherServiceRoleF35D7F00",
        "FunctionsDispatcherServiceRoleDefaultPolicy4B14D467",
        "FunctionsDispatcherSqsEventSourceReelsightPipelineUploadQueue8B3E6B1D9B1428FF",
        "FunctionsResultsServiceRole6D5BB4A7",
        "FunctionsResultsServiceRoleDefaultPolicyD16480D7",
        "FunctionsResultsSqsEventSourceReelsightPipelineFunctionsResultsQueueC5DCAB7D46288D00",
        "FunctionsResultsQueuePolicy002C8F7B",
        "FunctionsResultsDeadLetterQueuePolicy265E9DF7",
        "FunctionsResultsQueueReelsightPipelineTopicsAsyncSuccess9CB254B1047948B2",
        "FunctionsResultsQueueReelsightPipelineTopicsAsyncError153DD1E507FBF636",
        "FunctionsProcessingStateChange6A2527AE",
    ):
        assert logical_id in resources, logical_id


def test_key_policy_lets_services_use_the_key(synthesized: Synthesized) -> None:
    key = synthesized.resources(DATA)["DataKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    services: dict[str, dict[str, Any]] = {}
    for statement in key["KeyPolicy"]["Statement"]:
        principal = statement.get("Principal", {})
        for service in as_list(principal.get("Service", [])):
            services[json.dumps(service)] = statement
    for service in ("sagemaker", "sns", "sqs", "s3", "cloudwatch", "events"):
        statement = services[json.dumps(f"{service}.amazonaws.com")]
        assert "kms:GenerateDataKey*" in statement["Action"] and "kms:Decrypt" in statement["Action"]
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    logs = [s for k, s in services.items() if "logs." in k]
    assert logs and "kms:EncryptionContext:aws:logs:arn" in json.dumps(logs[0]["Condition"])


@pytest.mark.parametrize("bucket", ["InputBucket", "ResultsBucket", "AccessLogBucket"])
def test_buckets_are_hardened(synthesized: Synthesized, bucket: str) -> None:
    resources = synthesized.resources(DATA)
    props = resources[bucket]["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    encryption = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    if bucket == "AccessLogBucket":
        assert encryption["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    else:
        assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        assert encryption["BucketKeyEnabled"] is True
        assert props["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": "AccessLogBucket"}
        rules = {rule["Id"]: rule for rule in props["LifecycleConfiguration"]["Rules"]}
        assert rules["abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"] == {
            "DaysAfterInitiation": 1
        }
        assert rules["expire-noncurrent-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
        assert rules["transition-to-infrequent-access"]["Transitions"][0]["StorageClass"] == "STANDARD_IA"
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in synthesized.resources(DATA, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket}
    ]
    assert len(policies) == 1
    assert any(
        s["Effect"] == "Deny"
        and s["Action"] == "s3:*"
        and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policies[0]
    )


def test_tables(synthesized: Synthesized) -> None:
    resources = synthesized.resources(DATA)
    jobs = resources["JobsTable"]["Properties"]
    assert jobs["KeySchema"] == [{"AttributeName": "job_id", "KeyType": "HASH"}]
    (index,) = jobs["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "by_status"
    assert index["KeySchema"] == [
        {"AttributeName": "status", "KeyType": "HASH"},
        {"AttributeName": "created_at", "KeyType": "RANGE"},
    ]
    idempotency = resources["IdempotencyTable"]["Properties"]
    assert idempotency["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert idempotency["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    for props in (jobs, idempotency):
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["SSESpecification"]["SSEType"] == "KMS"


def test_upload_notifications_are_one_per_prefix_with_no_suffix_filter(synthesized: Synthesized) -> None:
    """S3 suffix filters match literally (CLIP.MP4 would raise no event): the dispatcher decides instead."""
    _, notifications = one(synthesized.resources(DATA, "Custom::S3BucketNotifications"))
    props = notifications["Properties"]
    assert props["BucketName"] == {"Ref": "InputBucket"}
    notification = props["NotificationConfiguration"]
    assert set(notification) == {"QueueConfigurations"}
    configs = notification["QueueConfigurations"]
    for config in configs:
        assert config["Events"] == ["s3:ObjectCreated:*"]
        assert config["QueueArn"] == {"Fn::GetAtt": ["UploadQueue", "Arn"]}
    rules = [config["Filter"]["Key"]["FilterRules"] for config in configs]
    assert rules == [[{"Name": "prefix", "Value": prefix}] for prefix in WATCHED_PREFIXES]


def test_upload_queue_redrive_and_visibility(synthesized: Synthesized) -> None:
    resources = synthesized.resources(DATA)
    queue = resources["UploadQueue"]["Properties"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["UploadDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }
    assert queue["KmsMasterKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    _, _, dispatcher = by_role(synthesized, "dispatch-function")
    assert queue["VisibilityTimeout"] >= 6 * dispatcher["Properties"]["Timeout"]


# --- Lambdas -----------------------------------------------------------------------------------------------


def test_event_sources_report_batch_item_failures(synthesized: Synthesized) -> None:
    mappings = synthesized.resources(PIPELINE, "AWS::Lambda::EventSourceMapping")
    _, dispatcher_id, _ = by_role(synthesized, "dispatch-function")
    _, results_id, _ = by_role(synthesized, "results-function")
    _, results_queue_id, _ = by_role(synthesized, "results-queue")
    by_function = {m["Properties"]["FunctionName"]["Ref"]: m["Properties"] for m in mappings.values()}
    assert set(by_function) == {dispatcher_id, results_id}
    for props in by_function.values():
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert props["ScalingConfig"]["MaximumConcurrency"] >= 2
    assert "UploadQueueArn" in json.dumps(by_function[dispatcher_id]["EventSourceArn"])
    assert by_function[results_id]["EventSourceArn"] == {"Fn::GetAtt": [results_queue_id, "Arn"]}


def test_results_queue_gets_sns_envelopes_and_processing_events(synthesized: Synthesized) -> None:
    _, queue_id, queue = by_role(synthesized, "results-queue")
    _, dlq_id, _ = by_role(synthesized, "results-dead-letter-queue")
    assert queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [dlq_id, "Arn"]}
    subscriptions = synthesized.resources(PIPELINE, "AWS::SNS::Subscription")
    topics = set()
    for sub in subscriptions.values():
        props = sub["Properties"]
        if props["Endpoint"] == {"Fn::GetAtt": [queue_id, "Arn"]}:
            assert props["Protocol"] == "sqs"
            assert props.get("RawMessageDelivery", False) is False
            topics.add(props["TopicArn"]["Ref"])
    assert topics == {by_role(synthesized, r)[1] for r in ("async-success-topic", "async-error-topic")}
    _, _, rule = by_role(synthesized, "processing-state-rule")
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.sagemaker"]
    assert pattern["detail-type"] == ["SageMaker Processing Job State Change"]
    assert rule["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}


def test_lambda_configuration(synthesized: Synthesized) -> None:
    _, _, dispatcher = by_role(synthesized, "dispatch-function")
    _, _, results = by_role(synthesized, "results-function")
    assert dispatcher["Properties"]["Handler"] == "lambdas.dispatch.handler.lambda_handler"
    assert results["Properties"]["Handler"] == "lambdas.results.handler.lambda_handler"
    for function in (dispatcher, results):
        props = function["Properties"]
        assert props["Runtime"] == "python3.12"
        (layer,) = props["Layers"]
        assert ":017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:" in json.dumps(layer)
        assert props["VpcConfig"]["SubnetIds"]
        assert props["KmsKeyArn"]
    env = dispatcher["Properties"]["Environment"]["Variables"]
    for name in (
        envvars.JOBS_TABLE,
        envvars.IDEMPOTENCY_TABLE,
        envvars.INPUT_BUCKET,
        envvars.RESULTS_BUCKET,
        envvars.UPLOAD_PREFIX,
        envvars.BATCH_PREFIX,
        envvars.VIDEO_SUFFIXES_OVERRIDE,
        envvars.ENDPOINT_NAME,
        envvars.ASYNC_MAX_BYTES,
        envvars.INVOCATION_TIMEOUT_SECONDS,
        envvars.REQUEST_TTL_SECONDS,
        envvars.PROCESSING_JOB_DEFINITION,
        envvars.RESULTS_TOPIC_ARN,
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
    ):
        assert name in env, name
    assert env[envvars.UPLOAD_PREFIX] == "incoming/"
    assert env[envvars.VIDEO_SUFFIXES_OVERRIDE] == ",".join(VIDEO_SUFFIXES)
    # The Processing job's settings travel in its definition only.
    assert not {envvars.API_URL, envvars.API_TOKEN_SECRET_ARN} & set(env)
    assert [name for name in env if name.startswith("REELSIGHT_PROCESSING_")] == [
        envvars.PROCESSING_JOB_DEFINITION
    ]


def _parsed_with_intrinsics(value: Any) -> dict[str, Any]:
    """A JSON object written by to_json_string (text joined with intrinsics); each intrinsic becomes the
    JSON text of itself, so the object parses and each reference can be compared."""
    _, parts = value["Fn::Join"]
    text = "".join(part if isinstance(part, str) else json.dumps(json.dumps(part))[1:-1] for part in parts)
    return dict(json.loads(text))


def test_dispatcher_gets_the_processing_job_definition_from_the_config(synthesized: Synthesized) -> None:
    _, role_id, _ = by_role(synthesized, "processing-role")
    _, _, dispatcher = by_role(synthesized, "dispatch-function")
    props = dispatcher["Properties"]
    fields = _parsed_with_intrinsics(props["Environment"]["Variables"][envvars.PROCESSING_JOB_DEFINITION])
    definition = ProcessingJobDefinition.from_json(json.dumps(fields))  # every field, of the right type
    outputs = synthesized.templates[PIPELINE]["Outputs"]

    def reference(field: str) -> Any:
        return json.loads(fields[field])

    assert reference("role_arn") == {"Fn::GetAtt": [role_id, "Arn"]}
    assert reference("image_uri") == outputs["WorkerImageUri"]["Value"]
    assert reference("mxnet_image_uri") == outputs["SegmentationImageUri"]["Value"]
    assert (definition.instance_type, definition.instance_count) == ("ml.g4dn.xlarge", 1)
    assert (definition.volume_size_gb, definition.max_runtime_seconds) == (100, 86400)
    assert reference("results_bucket") == {"Fn::ImportValue": "ReelsightData-ResultsBucketName"}
    assert reference("kms_key_arn") == {"Fn::ImportValue": "ReelsightData-DataKeyArn"}
    assert [json.loads(s) for s in definition.subnet_ids] == props["VpcConfig"]["SubnetIds"]
    (security_group,) = definition.security_group_ids
    assert "NetworkProcessingSecurityGroup" in security_group
    assert definition.api_url == "https://api.reelsight.internal:8000"
    assert "ApiToken" in fields["api_token_secret_arn"]
    assert "ApiCertificate" in fields["api_certificate_parameter"]


def test_lambda_bundle_holds_only_python_sources(synthesized: Synthesized, repo_root: Path) -> None:
    _, _, dispatcher = by_role(synthesized, "dispatch-function")
    asset_hash = dispatcher["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    manifest = json.loads((synthesized.outdir / f"{PIPELINE}.assets.json").read_text())
    asset_dir = synthesized.outdir / manifest["files"][asset_hash]["source"]["path"]
    files = sorted(p.relative_to(asset_dir).as_posix() for p in asset_dir.rglob("*") if p.is_file())
    assert "lambdas/dispatch/handler.py" in files
    assert "lambdas/results/handler.py" in files or not (repo_root / "lambdas/results/handler.py").exists()
    assert "reelsight/params.py" in files and "reelsight/envvars.py" in files
    assert all(f.endswith(".py") and f.split("/")[0] in ("lambdas", "reelsight") for f in files), files
    assert not any("__pycache__" in f for f in files)


def test_dispatcher_permissions_are_scoped(synthesized: Synthesized) -> None:
    _, processing_role_id, _ = by_role(synthesized, "processing-role")
    _, endpoint_id, _ = by_role(synthesized, "async-endpoint")
    policies = synthesized.resources(PIPELINE, "AWS::IAM::Policy")
    dispatcher_policy = next(
        p for lid, p in policies.items() if lid.startswith("FunctionsDispatcherServiceRole")
    )
    by_sid = {s.get("Sid"): s for s in dispatcher_policy["Properties"]["PolicyDocument"]["Statement"]}
    assert by_sid["PassProcessingRole"]["Action"] == "iam:PassRole"
    assert by_sid["PassProcessingRole"]["Resource"] == {"Fn::GetAtt": [processing_role_id, "Arn"]}
    assert by_sid["PassProcessingRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }
    assert by_sid["InvokeAsyncEndpoint"]["Resource"] == {"Ref": endpoint_id}
    assert ":processing-job/reelsight-*" in json.dumps(by_sid["StartProcessingJobs"]["Resource"])
    assert "sagemaker:CreateProcessingJob" in by_sid["StartProcessingJobs"]["Action"]
    # Batch, split and one-video jobs: the dispatcher writes each job's plan and manifest only.
    inputs = json.dumps(by_sid["WriteJobInputs"]["Resource"])
    assert by_sid["WriteJobInputs"]["Action"] == "s3:PutObject"
    assert "/jobs/*/plan.json" in inputs and "/jobs/*/input-*.manifest" in inputs
    assert "/jobs/*/plan.json" in json.dumps(by_sid["ReadJobPlans"]["Resource"])
    assert by_sid["ListJobParts"]["Condition"] == {"StringLike": {"s3:prefix": ["jobs/*"]}}


# --- IAM across all stacks ---------------------------------------------------------------------------------


def is_key_admin_statement(where: str, statement: dict[str, Any]) -> bool:
    """The key policy's statement for the account root: without it the key could become unmanageable."""
    principal = json.dumps(statement.get("Principal"))
    return where == f"{DATA}/DataKey" and statement["Action"] == "kms:*" and ":root" in principal


def test_no_action_wildcards_anywhere(synthesized: Synthesized) -> None:
    checked = 0
    for where, statement in statements(synthesized):
        if is_key_admin_statement(where, statement):
            continue
        checked += 1
        assert "NotAction" not in statement, where
        actions = as_list(statement["Action"])
        assert "*" not in actions, f"Action '*' in {where}"
        assert not any(
            isinstance(a, str) and a.endswith(":*") for a in actions if statement["Effect"] == "Allow"
        ), (
            where,
            actions,
        )
        # A VPC endpoint policy limits what the endpoint reaches, for any caller (its callers' own policies
        # still apply): its statements name the principal "*" by design (test_least_privilege.py).
        if statement["Effect"] == "Allow" and where not in endpoint_policies(synthesized):
            assert statement.get("Principal") not in ("*", {"AWS": "*"}), where
    assert checked > 50


def endpoint_policies(synthesized: Synthesized) -> set[str]:
    return {
        f"{stack}/{logical_id}"
        for stack in synthesized.templates
        for logical_id in synthesized.resources(stack, "AWS::EC2::VPCEndpoint")
    }


def test_no_physical_names(synthesized: Synthesized) -> None:
    named = {
        "AWS::S3::Bucket": "BucketName",
        "AWS::DynamoDB::Table": "TableName",
        "AWS::SQS::Queue": "QueueName",
        "AWS::SNS::Topic": "TopicName",
        "AWS::Lambda::Function": "FunctionName",
        "AWS::IAM::Role": "RoleName",
        "AWS::SageMaker::Endpoint": "EndpointName",
        "AWS::SageMaker::Model": "ModelName",
        "AWS::KMS::Key": "Alias",
    }
    for stack in synthesized.templates:
        for logical_id, resource in synthesized.resources(stack).items():
            prop = named.get(resource["Type"])
            assert not prop or prop not in resource.get("Properties", {}), f"{stack}/{logical_id} sets {prop}"


# --- API host and network ----------------------------------------------------------------------------------


def test_api_host_requires_imdsv2_and_has_no_ssh(synthesized: Synthesized) -> None:
    _, instance_id, instance = by_role(synthesized, "api-instance")
    props = instance["Properties"]
    assert "KeyName" not in props
    template(synthesized, API).has_resource_properties(
        "AWS::EC2::LaunchTemplate",
        {"LaunchTemplateData": Match.object_like({"MetadataOptions": {"HttpTokens": "required"}})},
    )
    template_ref = props["LaunchTemplate"]["LaunchTemplateName"]
    assert "LaunchTemplate" in json.dumps(template_ref)
    (device,) = props["BlockDeviceMappings"]
    assert device["Ebs"]["Encrypted"] is True and "DataKeyArn" in json.dumps(device["Ebs"]["KmsKeyId"])
    assert props["Monitoring"] is True
    image_id = json.dumps(props["ImageId"])
    parameters = synthesized.templates[API]["Parameters"]
    ssm_parameter = next(p for p in parameters.values() if p["Type"].startswith("AWS::SSM::Parameter::Value"))
    assert "al2023" in ssm_parameter["Default"] and "Ref" in image_id
    user_data = json.dumps(props["UserData"])
    assert "reelsight-api.service" in user_data and "--network host" in user_data
    assert envvars.API_TOKEN_SECRET_ARN in user_data
    del instance_id


def test_api_security_group_admits_only_jobs_and_lambdas(synthesized: Synthesized) -> None:
    _, api_sg_id, api_sg = by_role(synthesized, "api-security-group")
    _, processing_sg_id, _ = by_role(synthesized, "processing-security-group")
    _, lambda_sg_id, _ = by_role(synthesized, "lambda-security-group")
    assert "SecurityGroupIngress" not in api_sg["Properties"]
    ingress = [
        r["Properties"]
        for r in synthesized.resources(NETWORK, "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [api_sg_id, "GroupId"]}
    ]
    assert sorted(r["SourceSecurityGroupId"]["Fn::GetAtt"][0] for r in ingress) == sorted(
        [processing_sg_id, lambda_sg_id]
    )
    assert all((r["FromPort"], r["ToPort"], r["IpProtocol"]) == (8000, 8000, "tcp") for r in ingress)
    self_rules = [
        r["Properties"]
        for r in synthesized.resources(NETWORK, "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [processing_sg_id, "GroupId"]}
    ]
    assert [r["SourceSecurityGroupId"] for r in self_rules] == [{"Fn::GetAtt": [processing_sg_id, "GroupId"]}]


def test_network_is_private_with_endpoints_and_flow_logs(synthesized: Synthesized) -> None:
    network = template(synthesized, NETWORK)
    network.has_resource_properties("AWS::EC2::VPC", {"EnableDnsHostnames": True, "EnableDnsSupport": True})
    network.resource_count_is("AWS::EC2::NatGateway", 0)
    network.resource_count_is("AWS::EC2::InternetGateway", 0)
    network.resource_count_is("AWS::EC2::Subnet", 2)
    endpoints = synthesized.resources(NETWORK, "AWS::EC2::VPCEndpoint")
    services = {json.dumps(e["Properties"]["ServiceName"]) for e in endpoints.values()}
    for service in (
        "sagemaker.api",
        "sagemaker.runtime",
        "sts",
        "logs",
        "ecr.api",
        "ecr.dkr",
        "sns",
        "sqs",
        "ssm",
        "ssmmessages",
        "ec2messages",
        "s3",
    ):
        assert any(f".{service}" in s for s in services), service
    network.has_resource_properties("AWS::EC2::FlowLog", {"TrafficType": "ALL"})
    network.has_resource_properties(
        "AWS::Logs::LogGroup", {"KmsKeyId": Match.object_like({"Fn::ImportValue": Match.any_value()})}
    )


def test_dashboard_and_alarms(synthesized: Synthesized) -> None:
    pipeline = synthesized.resources(PIPELINE)
    _, ops_topic_id, _ = by_role(synthesized, "ops-topic")
    _, _, dashboard = by_role(synthesized, "dashboard")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for metric in (
        "ApproximateBacklogSize",
        "ApproximateBacklogSizePerInstance",
        "ApproximateAgeOfOldestRequest",
        "TimeInBacklog",
        "TotalProcessingTime",
        "InvocationsProcesssed",
        "InvocationFailures",
        "ApproximateNumberOfMessagesVisible",
        "Errors",
    ):
        assert f'\\"{metric}\\"' in body, metric
    alarms: dict[str, list[dict[str, Any]]] = {}
    for resource in pipeline.values():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            props = resource["Properties"]
            names = [props.get("MetricName")] + [
                m.get("MetricStat", {}).get("Metric", {}).get("MetricName") for m in props.get("Metrics", [])
            ]
            for name in filter(None, names):
                alarms.setdefault(name, []).append(props)
    for metric, count in (
        ("InvocationFailures", 1),
        ("ApproximateAgeOfOldestRequest", 1),
        ("ApproximateNumberOfMessagesVisible", 2),
        ("Errors", 2),
    ):
        assert len(alarms.get(metric, [])) == count, metric
        assert all(a["AlarmActions"] == [{"Ref": ops_topic_id}] for a in alarms[metric]), metric
    topics = synthesized.resources(PIPELINE, "AWS::SNS::Topic")
    assert all("KmsMasterKeyId" in t["Properties"] for t in topics.values())


# --- determinism -------------------------------------------------------------------------------------------


def test_synthesis_is_deterministic(synthesized: Synthesized, synthesized_again: Synthesized) -> None:
    changed_assets = changed_asset_sources(synthesized, synthesized_again)
    for stack in synthesized.templates:
        first = (synthesized.outdir / f"{stack}.template.json").read_text()
        second = (synthesized_again.outdir / f"{stack}.template.json").read_text()
        if first != second and changed_assets and mask_hashes(first) == mask_hashes(second):
            pytest.skip(f"source files of {sorted(changed_assets)} were edited between the two synths")
        assert first == second, f"{stack} differs between two synths"


def mask_hashes(text: str) -> str:
    text = re.sub(r"[0-9a-f]{64}", "<asset>", text)
    # Logical IDs that embed a hash of the instance's user data, which names the image.
    return re.sub(r"([0-9A-F]{8})[0-9a-f]{16}\b", r"\1<user-data>", text)


def changed_asset_sources(first: Synthesized, second: Synthesized) -> set[str]:
    """Asset folders whose staged files differ: a real edit of the sources, not a synthesis difference."""

    def contents(outdir: Path) -> dict[str, dict[str, bytes]]:
        staged: dict[str, dict[str, bytes]] = {}
        for manifest_path in outdir.glob("*.assets.json"):
            manifest = json.loads(manifest_path.read_text())
            for kind in ("files", "dockerImages"):
                for asset in manifest.get(kind, {}).values():
                    folder = outdir / asset["source"]["path" if kind == "files" else "directory"]
                    key = asset["source"].get("dockerFile", "lambda-code")
                    staged[key] = {
                        p.relative_to(folder).as_posix(): p.read_bytes()
                        for p in folder.rglob("*")
                        if p.is_file()
                    }
        return staged

    before, after = contents(first.outdir), contents(second.outdir)
    return {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
