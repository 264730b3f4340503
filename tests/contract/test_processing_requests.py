"""The Processing requests reelsight builds: a batch, a split and a resumed attempt read exactly the
manifest and plan the dispatcher writes; a one-video job runs the batch plan of one part."""

from __future__ import annotations

import json

import pytest

from reelsight import envvars
from reelsight.contract.batch import (
    JobPlan,
    attempt_of,
    manifest_document,
    pending_parts,
    plan_batch,
    plan_split,
)
from reelsight.contract.jobs import JobRecord, JobStatus
from reelsight.contract.processing import (
    ProcessingJobDefinition,
    create_batch_job_request,
    create_processing_job_request,
    single_video_plan,
)

DEFINITION = ProcessingJobDefinition(
    role_arn="arn:aws:iam::123456789012:role/processing",
    image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/worker:1",
    mxnet_image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/mxnet:1",
    instance_type="ml.g5.xlarge",
    instance_count=4,
    results_bucket="results",
)
VIDEOS = [f"s3://in/cams/{name}.mp4" for name in ("a", "b", "c")]


def _request(plan: JobPlan, attempt: int = 1, instance_count: int | None = None) -> dict:
    return create_batch_job_request(
        DEFINITION,
        plan=plan,
        attempt=attempt,
        environment={envvars.FPS: "2"},
        instance_count=instance_count,
    )


def _inputs(request: dict) -> dict[str, dict]:
    return {channel["InputName"]: channel["S3Input"] for channel in request["ProcessingInputs"]}


def test_a_batch_shards_its_manifest_and_gives_every_host_the_plan() -> None:
    plan = plan_batch("job1", VIDEOS, mode="frames")
    request = _request(plan, instance_count=3)
    inputs = _inputs(request)
    assert inputs["video"] == {
        "S3Uri": "s3://results/jobs/job1/input-1.manifest",
        "LocalPath": "/opt/ml/processing/input/video",
        "S3DataType": "ManifestFile",
        "S3InputMode": "File",
        "S3DataDistributionType": "ShardedByS3Key",
    }
    assert inputs["plan"]["S3Uri"] == "s3://results/jobs/job1/plan.json"
    assert inputs["plan"]["S3DataDistributionType"] == "FullyReplicated"
    assert inputs["plan"]["LocalPath"] == "/opt/ml/processing/input/plan"
    assert request["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 3
    assert request["ProcessingJobName"] == "reelsight-job1"
    assert request["Environment"][envvars.ATTEMPT] == "1" and request["Environment"][envvars.JOB_ID] == "job1"
    assert request["Environment"][envvars.FPS] == "2"
    assert (
        request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
        == "s3://results/jobs/job1/output/"
    )
    assert request["Tags"] == [{"Key": "reelsight:job-id", "Value": "job1"}]


def test_a_split_replicates_the_video_and_runs_the_definitions_count_by_default() -> None:
    request = _request(plan_split("job2", VIDEOS[0], 4))
    assert _inputs(request)["video"]["S3DataDistributionType"] == "FullyReplicated"
    assert request["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == DEFINITION.instance_count


def test_a_resumed_attempt_has_its_own_name_manifest_and_attempt_number() -> None:
    plan = plan_batch("job3", VIDEOS)
    request = _request(plan, attempt=2, instance_count=1)
    assert request["ProcessingJobName"] == "reelsight-job3--a2"
    assert attempt_of(request["ProcessingJobName"]) == ("job3", 2)
    assert _inputs(request)["video"]["S3Uri"] == "s3://results/jobs/job3/input-2.manifest"
    assert _inputs(request)["plan"]["S3Uri"] == "s3://results/jobs/job3/plan.json"
    assert request["Environment"][envvars.ATTEMPT] == "2"
    pending = pending_parts(plan, ["a"])
    assert json.loads(manifest_document(plan, pending)) == [{"prefix": "s3://in/cams/"}, "b.mp4", "c.mp4"]


def test_a_one_video_job_reads_exactly_its_object() -> None:
    plan = single_video_plan("job4", "s3://in/batch/cam1.mp4", options={"fps": "1"})
    # An S3Prefix input on batch/cam1.mp4 would also download batch/cam1.mp4.mov; the manifest names one key.
    assert json.loads(manifest_document(plan)) == [{"prefix": "s3://in/batch/"}, "cam1.mp4"]
    [part] = plan.parts
    assert (part.part_id, part.job_id, plan.kind, plan.options) == ("cam1", None, "batch", {"fps": "1"})
    assert JobPlan.from_json(plan.to_json()) == plan
    request = create_processing_job_request(
        DEFINITION, job_id="job4", input_location="s3://in/batch/cam1.mp4", environment={}
    )
    assert _inputs(request)["video"]["S3DataType"] == "ManifestFile"
    assert _inputs(request)["video"]["S3Uri"] == "s3://results/jobs/job4/input-1.manifest"
    assert request["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == DEFINITION.instance_count


@pytest.mark.parametrize(
    "framework, image", [("mxnet", DEFINITION.mxnet_image_uri), ("torchvision", DEFINITION.image_uri)]
)
def test_the_models_framework_picks_the_image(framework: str, image: str) -> None:
    request = create_batch_job_request(
        DEFINITION,
        plan=plan_batch("job5", VIDEOS),
        attempt=1,
        environment={},
        framework=framework,
    )
    assert request["AppSpecification"]["ImageUri"] == image


def test_the_batch_fields_of_a_record_round_trip() -> None:
    record = JobRecord(
        job_id="job6-0001",
        status=JobStatus.FAILED,
        kind=None,
        batch_id="job6",
        part_id="a",
        attempt=2,
        failed_parts=["a"],
        skipped_keys=["cams/notes.txt"],
        resumed_by="req",
        process_mode="frames",
        image_format="png",
        parts=3,
        instance_count=2,
    )
    assert JobRecord.from_item(record.to_item()) == record
