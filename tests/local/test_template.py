"""Reading synthesized templates into the local stack's plan, and creating it on a moto server."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from reelsight.errors import ParamError
from reelsight.local.provision import provision
from reelsight.local.template import build_plan
from reelsight.testing.moto_server import MotoServer


def _role(role: str) -> dict[str, Any]:
    return {"reelsight:role": role}


def data_stack() -> dict[str, Any]:
    return {
        "Resources": {
            "InputBucketA1": {
                "Type": "AWS::S3::Bucket",
                "Properties": {"VersioningConfiguration": {"Status": "Enabled"}},
                "Metadata": _role("input-bucket"),
            },
            "ResultsBucketB2": {"Type": "AWS::S3::Bucket", "Metadata": _role("results-bucket")},
            "UploadDlqC3": {"Type": "AWS::SQS::Queue", "Properties": {"MessageRetentionPeriod": 1209600}},
            "UploadQueueD4": {
                "Type": "AWS::SQS::Queue",
                "Properties": {
                    "VisibilityTimeout": 360,
                    "RedrivePolicy": {
                        "deadLetterTargetArn": {"Fn::GetAtt": ["UploadDlqC3", "Arn"]},
                        "maxReceiveCount": 3,
                    },
                },
                "Metadata": _role("upload-queue"),
            },
            "Notifications": {
                "Type": "Custom::S3BucketNotifications",
                "Properties": {
                    "ServiceToken": {"Fn::GetAtt": ["BucketNotificationsHandler050a0587", "Arn"]},
                    "BucketName": {"Ref": "InputBucketA1"},
                    "NotificationConfiguration": {
                        "QueueConfigurations": [
                            {
                                "Events": ["s3:ObjectCreated:*"],
                                "Filter": {
                                    "Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}
                                },
                                "QueueArn": {"Fn::GetAtt": ["UploadQueueD4", "Arn"]},
                            }
                        ]
                    },
                    "Managed": True,
                },
            },
            "BucketNotificationsHandler050a0587": {
                "Type": "AWS::Lambda::Function",
                "Properties": {"Handler": "index.handler", "Runtime": "python3.13"},
            },
            "JobsTableE5": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "KeySchema": [{"AttributeName": "job_id", "KeyType": "HASH"}],
                    "AttributeDefinitions": [
                        {"AttributeName": "job_id", "AttributeType": "S"},
                        {"AttributeName": "status", "AttributeType": "S"},
                        {"AttributeName": "created_at", "AttributeType": "S"},
                    ],
                    "GlobalSecondaryIndexes": [
                        {
                            "IndexName": "status-created_at",
                            "KeySchema": [
                                {"AttributeName": "status", "KeyType": "HASH"},
                                {"AttributeName": "created_at", "KeyType": "RANGE"},
                            ],
                            "Projection": {"ProjectionType": "ALL"},
                        }
                    ],
                    "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
                    "BillingMode": "PAY_PER_REQUEST",
                },
                "Metadata": _role("jobs-table"),
            },
            "ResultsTopicF6": {"Type": "AWS::SNS::Topic", "Metadata": _role("results-topic")},
        },
        "Outputs": {
            "ExportInputBucket": {"Value": {"Ref": "InputBucketA1"}, "Export": {"Name": "data:InputBucket"}},
            "ExportResultsBucket": {
                "Value": {"Ref": "ResultsBucketB2"},
                "Export": {"Name": "data:ResultsBucket"},
            },
        },
    }


def app_stack() -> dict[str, Any]:
    results_bucket = {"Fn::ImportValue": "data:ResultsBucket"}
    return {
        "Parameters": {"BootstrapVersion": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/cdk"}},
        "Resources": {
            "SuccessTopic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "reelsight-success"}},
            "ErrorTopic": {"Type": "AWS::SNS::Topic"},
            "ResultsQueue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 60}},
            "SuccessSub": {
                "Type": "AWS::SNS::Subscription",
                "Properties": {
                    "Protocol": "sqs",
                    "TopicArn": {"Ref": "SuccessTopic"},
                    "Endpoint": {"Fn::GetAtt": ["ResultsQueue", "Arn"]},
                },
            },
            "Model": {
                "Type": "AWS::SageMaker::Model",
                "Properties": {
                    "PrimaryContainer": {
                        "Image": "x",
                        "Environment": {"REELSIGHT_ARTIFACT_BUCKET": results_bucket, "REELSIGHT_FPS": "1"},
                    }
                },
            },
            "EndpointConfig": {
                "Type": "AWS::SageMaker::EndpointConfig",
                "Properties": {
                    "ProductionVariants": [
                        {"ModelName": {"Fn::GetAtt": ["Model", "ModelName"]}, "InitialInstanceCount": 1}
                    ],
                    "AsyncInferenceConfig": {
                        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 2},
                        "OutputConfig": {
                            "S3OutputPath": {"Fn::Join": ["", ["s3://", results_bucket, "/async/output"]]},
                            "S3FailurePath": {"Fn::Sub": ["s3://${B}/async/failure", {"B": results_bucket}]},
                            "NotificationConfig": {
                                "SuccessTopic": {"Ref": "SuccessTopic"},
                                "ErrorTopic": {"Ref": "ErrorTopic"},
                            },
                        },
                    },
                },
            },
            "Endpoint": {
                "Type": "AWS::SageMaker::Endpoint",
                "Properties": {
                    "EndpointConfigName": {"Fn::GetAtt": ["EndpointConfig", "EndpointConfigName"]}
                },
            },
            "Results": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Handler": "lambdas.results.handler.lambda_handler",
                    "Runtime": "python3.12",
                    "Timeout": 30,
                    "Environment": {
                        "Variables": {
                            "REELSIGHT_RESULTS_BUCKET": results_bucket,
                            "REELSIGHT_ENDPOINT_NAME": {"Fn::GetAtt": ["Endpoint", "EndpointName"]},
                            "WHERE": {"Fn::Sub": "${AWS::Region}:${AWS::AccountId}"},
                        }
                    },
                },
            },
            "ResultsSource": {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {
                    "FunctionName": {"Ref": "Results"},
                    "EventSourceArn": {"Fn::GetAtt": ["ResultsQueue", "Arn"]},
                    "BatchSize": 5,
                    "FunctionResponseTypes": ["ReportBatchItemFailures"],
                },
            },
        },
        "Outputs": {"JobsTableName": {"Value": "literal-jobs"}},
    }


@pytest.fixture()
def templates(tmp_path: Path) -> list[Path]:
    paths = []
    for name, body in (("reelsight-data", data_stack()), ("reelsight-app", app_stack())):
        path = tmp_path / f"{name}.template.json"
        path.write_text(json.dumps(body))
        paths.append(path)
    return paths


def test_plan_resolves_names_and_wiring(templates: list[Path]) -> None:
    plan = build_plan(templates, sqs_base_url="http://127.0.0.1:5000")
    buckets = {b.role: b for b in plan.buckets}
    assert buckets["input-bucket"].name == "reelsight-data-inputbucketa1"
    assert buckets["input-bucket"].versioned is True
    results = buckets["results-bucket"].name

    queues = {q.logical_id: q for q in plan.queues}
    upload = queues["UploadQueueD4"]
    assert upload.url == "http://127.0.0.1:5000/123456789012/reelsight-data-UploadQueueD4"
    redrive = json.loads(upload.attributes["RedrivePolicy"])
    assert redrive == {"deadLetterTargetArn": queues["UploadDlqC3"].arn, "maxReceiveCount": 3}
    assert upload.attributes["VisibilityTimeout"] == "360"

    [note] = plan.notifications
    assert note.bucket == buckets["input-bucket"].name
    assert note.configuration["QueueConfigurations"][0]["QueueArn"] == upload.arn

    [table] = plan.tables
    assert table.global_secondary_indexes[0]["IndexName"] == "status-created_at"
    assert table.ttl_attribute == "expires_at"

    [sub] = plan.subscriptions
    assert sub.topic_arn == "arn:aws:sns:us-east-1:123456789012:reelsight-success"
    assert sub.endpoint == queues["ResultsQueue"].arn

    [function] = plan.functions  # CDK's own notification handler is not ours to run
    assert function.handler == "lambdas.results.handler.lambda_handler"
    assert function.environment["REELSIGHT_RESULTS_BUCKET"] == results  # cross-stack import
    assert function.environment["WHERE"] == "us-east-1:123456789012"
    assert function.timeout == 30
    [source] = plan.event_sources
    assert (source.function, source.batch_size, source.report_batch_item_failures) == (function.name, 5, True)
    assert source.queue_url == queues["ResultsQueue"].url

    endpoint = plan.endpoint
    assert endpoint is not None
    assert function.environment["REELSIGHT_ENDPOINT_NAME"] == endpoint.name
    assert endpoint.output_path == f"s3://{results}/async/output"
    assert endpoint.failure_path == f"s3://{results}/async/failure"
    assert endpoint.success_topic == sub.topic_arn
    assert endpoint.error_topic and endpoint.error_topic.endswith(":reelsight-app-ErrorTopic")
    assert endpoint.max_concurrency == 2
    assert endpoint.container_environment == {"REELSIGHT_ARTIFACT_BUCKET": results, "REELSIGHT_FPS": "1"}
    assert plan.outputs["ExportInputBucket"] == buckets["input-bucket"].name
    assert plan.outputs["JobsTableName"] == "literal-jobs"


def test_no_templates_is_a_clear_error() -> None:
    with pytest.raises(ParamError, match="make synth"):
        build_plan([])


def test_provisioned_stack_delivers_uploads_and_redrives(templates: list[Path], aws_env: MotoServer) -> None:
    aws_env.reset()
    plan = build_plan(templates, sqs_base_url=aws_env.url)
    provision(plan)
    s3, sqs, ddb = boto3.client("s3"), boto3.client("sqs"), boto3.client("dynamodb")
    buckets = {b.role: b.name for b in plan.buckets}
    queues = {q.logical_id: q for q in plan.queues}

    s3.put_object(Bucket=buckets["input-bucket"], Key="incoming/a b.mp4", Body=b"v")
    s3.put_object(Bucket=buckets["input-bucket"], Key="elsewhere/c.mp4", Body=b"v")  # outside the prefix
    bodies: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10
    while len(bodies) < 2 and time.monotonic() < deadline:
        got = sqs.receive_message(
            QueueUrl=queues["UploadQueueD4"].url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        )
        bodies += [json.loads(m["Body"]) for m in got.get("Messages", [])]
    assert bodies[0].get("Event") == "s3:TestEvent"
    keys = [r["s3"]["object"]["key"] for b in bodies[1:] for r in b["Records"]]
    assert keys == ["incoming%2Fa+b.mp4"]

    attrs = sqs.get_queue_attributes(QueueUrl=queues["UploadQueueD4"].url, AttributeNames=["All"])[
        "Attributes"
    ]
    assert json.loads(attrs["RedrivePolicy"])["maxReceiveCount"] == 3
    table = ddb.describe_table(TableName=plan.tables[0].name)["Table"]
    assert table["GlobalSecondaryIndexes"][0]["IndexName"] == "status-created_at"
    assert s3.get_bucket_versioning(Bucket=buckets["input-bucket"])["Status"] == "Enabled"
