"""The committed template summaries in docs/infrastructure/ match the current app."""

from __future__ import annotations

from pathlib import Path

from stacks.summary import mask_logical_id, summarize, write_summaries
from tests.infra.synth import REPO_ROOT, Synthesized

COMMITTED = REPO_ROOT / "docs" / "infrastructure"


def test_committed_summaries_are_current(synthesized: Synthesized, tmp_path: Path) -> None:
    written = write_summaries(synthesized.outdir, tmp_path)
    assert {p.name for p in written} == {f"{stack}.txt" for stack in synthesized.templates}
    for fresh in written:
        committed = COMMITTED / fresh.name
        assert committed.exists(), f"{committed} is missing: run `make template-summary`"
        assert committed.read_text() == fresh.read_text(), (
            f"{committed} is stale: run `make template-summary`"
        )


def test_summary_lists_each_resource_once_with_its_role() -> None:
    template = {
        "Resources": {
            "UploadQueue": {
                "Type": "AWS::SQS::Queue",
                "Metadata": {"reelsight:role": "upload-queue"},
                "Properties": {"VisibilityTimeout": 360, "RedrivePolicy": {"maxReceiveCount": 5}},
            },
            "ApiInstanceDFC9B3B5839e43473153df74": {"Type": "AWS::EC2::Instance", "Properties": {}},
        }
    }
    assert summarize(template) == [
        "ApiInstanceDFC9B3B5<user-data> AWS::EC2::Instance",
        "UploadQueue AWS::SQS::Queue role=upload-queue VisibilityTimeout=360 maxReceiveCount=5",
    ]
    assert mask_logical_id("InputBucket") == "InputBucket"


def test_summary_details_iam_network_environment_scaling_and_notifications() -> None:
    template = {
        "Resources": {
            "Policy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "Roles": [{"Ref": "Role"}],
                    "PolicyDocument": {
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["s3:List*", "s3:GetObject"],
                                "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": ["Bucket", "Arn"]}, "/*"]]},
                                "Condition": {"Bool": {"aws:SecureTransport": "true"}},
                            }
                        ]
                    },
                },
            },
            "Group": {
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {
                    "SecurityGroupIngress": [
                        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0"}
                    ]
                },
            },
            "Function": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Environment": {
                        "Variables": {
                            "API_TOKEN": "literal-secret-value",
                            "DB_PASSWORD": {"Ref": "PasswordParameter"},
                            "TOKEN_SECRET_ARN": {"Fn::ImportValue": "Api-TokenArn"},
                            "COUNT": "3",
                        }
                    }
                },
            },
            "Steps": {
                "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
                "Properties": {
                    "StepScalingPolicyConfiguration": {
                        "AdjustmentType": "ChangeInCapacity",
                        "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}],
                    }
                },
            },
            "Notifications": {
                "Type": "Custom::S3BucketNotifications",
                "Properties": {
                    "BucketName": {"Ref": "Bucket"},
                    "NotificationConfiguration": {
                        "QueueConfigurations": [
                            {
                                "Events": ["s3:ObjectCreated:*"],
                                "Filter": {
                                    "Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}
                                },
                                "QueueArn": {"Fn::GetAtt": ["Queue", "Arn"]},
                            }
                        ]
                    },
                },
            },
        }
    }
    lines = summarize(template)
    assert lines == [
        "Function AWS::Lambda::Function",
        "  env API_TOKEN=<masked>",
        "  env COUNT=3",
        "  env DB_PASSWORD=${PasswordParameter}",
        "  env TOKEN_SECRET_ARN=${Import:Api-TokenArn}",
        "Group AWS::EC2::SecurityGroup",
        "  net ingress tcp 443 from cidr 0.0.0.0/0 (ANYWHERE)",
        "Notifications Custom::S3BucketNotifications",
        "  notify bucket=${Bucket}",
        "  notify s3:ObjectCreated:* prefix=incoming/ -> queue ${Queue.Arn}",
        "Policy AWS::IAM::Policy",
        "  iam applies-to roles=[${Role}]",
        "  iam policy Allow action=[s3:GetObject, s3:List* (WILDCARD)] resource=[${Bucket.Arn}/* (WILDCARD)]"
        " if Bool(aws:SecureTransport=true)",
        "Steps AWS::ApplicationAutoScaling::ScalingPolicy",
        "  scaling step AdjustmentType=ChangeInCapacity",
        "  scaling step [0, +inf) adjust=1",
    ]
    assert not any("literal-secret-value" in line for line in lines)


def test_a_json_object_variable_is_shown_field_by_field_with_its_references() -> None:
    """As the CDK's to_json_string writes one: text joined with intrinsic functions."""
    definition = {
        "Fn::Join": [
            "",
            [
                '{"role_arn":"',
                {"Fn::GetAtt": ["Role", "Arn"]},
                '","subnet_ids":["',
                {"Fn::ImportValue": "Net-A"},
                '","',
                {"Fn::ImportValue": "Net-B"},
                '"],"image":"',
                {"Ref": "AWS::AccountId"},
                '.dkr.ecr/worker","count":2,"api_token":"literal-secret-value"}',
            ],
        ]
    }
    template = {
        "Resources": {
            "Function": {
                "Type": "AWS::Lambda::Function",
                "Properties": {"Environment": {"Variables": {"JOB": definition, "PLAIN": '{"not": json'}}},
            }
        }
    }
    assert summarize(template) == [
        "Function AWS::Lambda::Function",
        "  env JOB.api_token=<masked>",
        "  env JOB.count=2",
        "  env JOB.image=${AWS::AccountId}.dkr.ecr/worker",
        "  env JOB.role_arn=${Role.Arn}",
        "  env JOB.subnet_ids=[${Import:Net-A}, ${Import:Net-B}]",
        '  env PLAIN={"not": json',
    ]


def test_committed_summaries_show_scaling_environment_and_endpoints() -> None:
    pipeline = (COMMITTED / "ReelsightPipeline.txt").read_text()
    for expected in (
        "  env REELSIGHT_PROCESSING_JOB_DEFINITION.instance_count=1",
        "  env REELSIGHT_MODEL=maskrcnn",
        "  size variant AllTraffic instance-type=ml.g4dn.xlarge initial-count=1 weight=1",
        "  async output=s3://${Import:ReelsightData-ResultsBucketName}/async/output",
        "  scaling target-tracking metric=AWS/SageMaker/ApproximateBacklogSizePerInstance:Average target=5",
    ):
        assert expected in pipeline, expected
    network = (COMMITTED / "ReelsightNetwork.txt").read_text()
    assert "  endpoint service=com.amazonaws.${AWS::Region}.sagemaker.runtime type=Interface" in network
    assert "  net ingress tcp 443 from cidr ${NetworkVpc7FB7348F.CidrBlock}" in network
