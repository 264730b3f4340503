"""``reelsight train-detector`` against a moto server, and the status watcher."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from reelsight.cli import main
from reelsight.errors import ParamError
from reelsight.testing.moto_server import MotoServer
from reelsight.training import launcher
from reelsight.training.dataset import build, read_cub

ROLE = "arn:aws:iam::123456789012:role/reelsight-training"


def test_dataset_upload_and_training_request(cub_dir: Path, tmp_path: Path, aws_env: MotoServer, capsys):
    out = tmp_path / "birds"
    build(read_cub(cub_dir), out, val_fraction=0.34, seed=0, prefix="birds")
    s3 = boto3.client("s3", region_name="us-west-2")
    s3.create_bucket(Bucket="train-data", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    argv = [
        "train-detector",
        "--dataset",
        str(out),
        "--s3-prefix",
        "s3://train-data/birds",
        "--output",
        "s3://train-data/output",
        "--role",
        ROLE,
        "--region",
        "us-west-2",
        "--job-name",
        "birds-1",
        "--hp",
        "epochs=3",
        "--hp",
        "mini_batch_size=2",
        "--poll-seconds",
        "0.05",
        "--timeout",
        "60",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "started arn:aws:sagemaker:us-west-2:" in printed and "model artifact:" in printed

    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="train-data")["Contents"])
    assert keys == ["birds/train/birds_train.rec", "birds/validation/birds_val.rec"]

    job = boto3.client("sagemaker", region_name="us-west-2").describe_training_job(TrainingJobName="birds-1")
    assert job["AlgorithmSpecification"]["TrainingImage"] == (
        "433757028032.dkr.ecr.us-west-2.amazonaws.com/object-detection:1"
    )
    assert job["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    hp = job["HyperParameters"]
    assert hp["num_classes"] == "3" and hp["num_training_samples"] == "4"
    assert hp["epochs"] == "3" and hp["mini_batch_size"] == "2"
    assert (
        hp["base_network"] == "resnet-50"
        and hp["image_shape"] == "512"
        and hp["lr_scheduler_step"] == "33,67"
    )
    channels = {c["ChannelName"]: c for c in job["InputDataConfig"]}
    assert set(channels) == {"train", "validation"}
    assert channels["train"]["ContentType"] == "application/x-recordio"
    source = channels["validation"]["DataSource"]["S3DataSource"]
    assert source["S3Uri"] == "s3://train-data/birds/validation/"
    assert source["S3DataType"] == "S3Prefix" and source["S3DataDistributionType"] == "FullyReplicated"
    assert job["ResourceConfig"]["InstanceType"] == "ml.p3.2xlarge"
    assert job["ResourceConfig"]["VolumeSizeInGB"] == 50
    assert job["StoppingCondition"]["MaxRuntimeInSeconds"] == 360000
    assert job["OutputDataConfig"]["S3OutputPath"] == "s3://train-data/output/"
    assert job["RoleArn"] == ROLE


def test_image_format_request_needs_lst_channels():
    request = launcher.TrainingRequest(
        job_name="birds-2",
        role_arn=ROLE,
        region="eu-west-1",
        output_uri="s3://b/out",
        channels={"train": "s3://b/train", "validation": "s3://b/val"},
        hyperparameters=launcher.hyperparameters(num_classes=5, num_training_samples=150),
        input_format="image",
    )
    with pytest.raises(ParamError, match="train_lst, validation_lst"):
        request.validate()
    request.channels.update({"train_lst": "s3://b/train_lst", "validation_lst": "s3://b/validation_lst"})
    api = request.validate().to_api()
    types = {c["ChannelName"]: c["ContentType"] for c in api["InputDataConfig"]}
    assert types == {
        "train": "application/x-image",
        "validation": "application/x-image",
        "train_lst": "text/plain",
        "validation_lst": "text/plain",
    }
    assert api["AlgorithmSpecification"]["TrainingImage"].startswith("685385470294.dkr.ecr.eu-west-1.")
    assert launcher.training_image("cn-north-1").endswith(".amazonaws.com.cn/object-detection:1")
    with pytest.raises(ParamError, match="no built-in Object Detection image"):
        launcher.training_image("xx-nowhere-1")
    request.job_name = "bad name!"
    with pytest.raises(ParamError, match="job name"):
        request.validate()


class _Jobs:
    """Answers DescribeTrainingJob from a script of states (a fake of the pure polling logic)."""

    def __init__(self, states: list[dict[str, Any]]) -> None:
        self.states = states
        self.calls = 0

    def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:  # noqa: N803 - boto3's name
        state = self.states[min(self.calls, len(self.states) - 1)]
        self.calls += 1
        return {"TrainingJobName": TrainingJobName, **state}


def test_wait_reports_transitions_and_raises_on_failure():
    jobs = _Jobs(
        [
            {"TrainingJobStatus": "InProgress", "SecondaryStatus": "Starting"},
            {"TrainingJobStatus": "InProgress", "SecondaryStatus": "Starting"},
            {
                "TrainingJobStatus": "InProgress",
                "SecondaryStatus": "Training",
                "SecondaryStatusTransitions": [{"StatusMessage": "Training image download completed."}],
            },
            {
                "TrainingJobStatus": "Failed",
                "SecondaryStatus": "Failed",
                "FailureReason": "ClientError: bad label",
            },
        ]
    )
    lines: list[str] = []
    with pytest.raises(launcher.TrainingFailed, match="ended Failed: ClientError: bad label"):
        launcher.wait(jobs, "j", poll_seconds=0, report=lines.append, sleep=lambda _: None)
    assert lines == [
        "j: InProgress / Starting",
        "j: InProgress / Training - Training image download completed.",
        "j: Failed / Failed",
    ]
    assert jobs.calls == 4

    endless = _Jobs([{"TrainingJobStatus": "InProgress"}])
    with pytest.raises(launcher.TrainingFailed, match="gave up waiting"):
        launcher.wait(endless, "j", poll_seconds=0.01, timeout_seconds=0.05, report=lambda _: None)


def test_missing_inputs_are_user_errors(tmp_path: Path, capsys, aws_env: MotoServer):
    base = ["train-detector", "--output", "s3://b/out", "--role", ROLE, "--region", "us-east-1"]
    assert main([*base, "--train", "s3://b/t", "--validation", "s3://b/v"]) == 2
    assert "--num-classes" in capsys.readouterr().err
    assert main([*base, "--dataset", str(tmp_path)]) == 2
    assert "--s3-prefix" in capsys.readouterr().err
    assert main([*base, "--dataset", str(tmp_path), "--s3-prefix", "s3://b/p"]) == 2
    assert "classes.txt" in capsys.readouterr().err
    assert (
        main(
            [
                *base,
                "--train",
                "s3://b/t",
                "--validation",
                "s3://b/v",
                "--num-classes",
                "2",
                "--num-training-samples",
                "10",
                "--hp",
                "oops",
            ]
        )
        == 2
    )
    assert "KEY=VALUE" in capsys.readouterr().err
