"""The local SageMaker Processing service, through boto3's real ``sagemaker`` client.

Each test runs real host processes over inputs downloaded from a real moto server; most hosts are
a small stand-in script, one job runs the real ``reelsight process`` on generated videos.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from lambdas.results.messages import ResultEvent, parse_body
from reelsight.local.control_plane import ControlPlane
from reelsight.local.processing_service import RESTARTED, ProcessingService, ServiceConfig
from reelsight.testing.moto_server import MotoServer
from reelsight.testing.videos import write_video

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/stand-in:latest"
WORKER_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/worker:latest"
ROLE = "arn:aws:iam::123456789012:role/processing"
FAST_WAIT = {"Delay": 0.5, "MaxAttempts": 240}

# The stand-in host: records what it received, then behaves as STUB_MODE says.
HOST_SCRIPT = """
import json, os, pathlib, sys, time
root = pathlib.Path(os.environ["REELSIGHT_OPT_ML_ROOT"])
config = json.loads((root / "config/resourceconfig.json").read_text())
job = json.loads((root / "config/processingjobconfig.json").read_text())
host = config["current_host"]
inputs = root / "processing/input"
files = sorted(p.relative_to(inputs).as_posix() for p in inputs.rglob("*") if p.is_file())
out = root / "processing/output"
out.mkdir(parents=True, exist_ok=True)
record = {"host": host, "hosts": config["hosts"], "files": files, "args": sys.argv[1:],
          "job": job["ProcessingJobName"], "env": os.environ.get("JOB_SETTING")}
(out / f"{host}.json").write_text(json.dumps(record))
mode = os.environ.get("STUB_MODE", "ok")
if mode == "fail" and host == "algo-2":
    (root / "output/message").write_text("the model broke: " + "x" * 2000)
    sys.exit(3)
if mode in ("sleep", "fail"):
    time.sleep(120)
if mode == "continuous":
    (out / "early.txt").write_text("written while running")
    for _ in range(300):
        if (root / "release").exists():
            break
        time.sleep(0.1)
    (out / "late.txt").write_text("written at the end")
"""


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="module")
def aws(moto: MotoServer) -> dict[str, Any]:
    env = moto.client_env()
    kwargs = {
        "endpoint_url": moto.url,
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    s3 = boto3.client("s3", **kwargs)
    sqs = boto3.client("sqs", **kwargs)
    s3.create_bucket(Bucket="proc-in")
    s3.create_bucket(Bucket="proc-out")
    queue = sqs.create_queue(QueueName="results")["QueueUrl"]
    return {"env": env, "s3": s3, "sqs": sqs, "queue": queue}


@pytest.fixture(scope="module")
def service(aws: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessingService]:
    script = tmp_path_factory.mktemp("stand-in") / "host.py"
    script.write_text(HOST_SCRIPT)
    config = ServiceConfig(
        work_dir=str(tmp_path_factory.mktemp("processing")),
        images={IMAGE: [sys.executable, str(script)], WORKER_IMAGE: [sys.executable, "-m", "reelsight"]},
        aws_env=aws["env"],
        rules=[
            {
                "pattern": {
                    "source": ["aws.sagemaker"],
                    "detail-type": ["SageMaker Processing Job State Change"],
                    "detail": {"ProcessingJobName": [{"prefix": "reelsight-"}]},
                },
                "queue_urls": [aws["queue"]],
            }
        ],
        stop_grace_seconds=2.0,
        continuous_seconds=0.3,
    )
    yield ProcessingService(config)


@pytest.fixture(scope="module")
def sagemaker(service: ProcessingService) -> Iterator[Any]:
    """boto3's real client, pointed at the control plane by ``AWS_ENDPOINT_URL_SAGEMAKER`` alone."""
    with ControlPlane(service.operations()) as plane, pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", plane.url)
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
            patch.setenv(key, value)
        yield boto3.client("sagemaker", region_name="us-east-1")


def job_request(
    name: str, *, count: int = 1, inputs: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "ProcessingJobName": name,
        "RoleArn": ROLE,
        "AppSpecification": {"ImageUri": IMAGE, "ContainerArguments": ["process", "--flag"]},
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": count, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}
        },
        "ProcessingInputs": inputs or [],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "results",
                    "S3Output": {
                        "S3Uri": f"s3://proc-out/{name}/",
                        "LocalPath": "/opt/ml/processing/output",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        "Environment": {"JOB_SETTING": "from-the-request"},
    }
    request.update(extra)
    return request


def s3_input(
    name: str, uri: str, kind: str = "S3Prefix", distribution: str = "FullyReplicated"
) -> dict[str, Any]:
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": f"/opt/ml/processing/input/{name}",
            "S3DataType": kind,
            "S3InputMode": "File",
            "S3DataDistributionType": distribution,
        },
    }


def wait_done(sagemaker: Any, name: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = sagemaker.describe_processing_job(ProcessingJobName=name)
        if job["ProcessingJobStatus"] in ("Completed", "Failed", "Stopped"):
            return dict(job)
        time.sleep(0.3)
    raise AssertionError(f"{name} did not end within {timeout}s")


def host_records(s3: Any, name: str) -> dict[str, dict[str, Any]]:
    records = {}
    for item in s3.list_objects_v2(Bucket="proc-out", Prefix=f"{name}/").get("Contents", []):
        if item["Key"].endswith(".json"):
            body = json.loads(s3.get_object(Bucket="proc-out", Key=item["Key"])["Body"].read())
            records[body["host"]] = body
    return records


def put(s3: Any, *keys: str) -> None:
    for key in keys:
        s3.put_object(Bucket="proc-in", Key=key, Body=key.encode())


def test_a_job_runs_to_completion_with_its_configs_and_the_waiter(
    sagemaker: Any, aws: dict[str, Any]
) -> None:
    put(aws["s3"], "one/a.mp4")
    name = "reelsight-complete"
    arn = sagemaker.create_processing_job(
        **job_request(name, count=2, inputs=[s3_input("data", "s3://proc-in/one/")])
    )["ProcessingJobArn"]
    assert arn == f"arn:aws:sagemaker:us-east-1:123456789012:processing-job/{name}"
    sagemaker.get_waiter("processing_job_completed_or_stopped").wait(
        ProcessingJobName=name, WaiterConfig=FAST_WAIT
    )
    job = sagemaker.describe_processing_job(ProcessingJobName=name)
    assert job["ProcessingJobStatus"] == "Completed"
    assert job["ProcessingStartTime"] <= job["ProcessingEndTime"]
    assert job["CreationTime"] <= job["LastModifiedTime"]
    assert job["AppSpecification"]["ContainerArguments"] == ["process", "--flag"]
    assert job["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 2
    records = host_records(aws["s3"], name)
    assert set(records) == {"algo-1", "algo-2"}  # two hosts wrote into the one output prefix
    for record in records.values():
        assert record["hosts"] == ["algo-1", "algo-2"]
        assert record["args"] == ["process", "--flag"]  # the arguments follow the image's command
        assert record["job"] == name and record["env"] == "from-the-request"
        assert record["files"] == ["data/a.mp4"]


def test_validation_answers_as_sagemaker(sagemaker: Any, aws: dict[str, Any]) -> None:
    put(aws["s3"], "dup/a.mp4")
    name = "reelsight-duplicate"
    sagemaker.create_processing_job(**job_request(name, inputs=[s3_input("data", "s3://proc-in/dup/")]))
    with pytest.raises(ClientError) as duplicate:
        sagemaker.create_processing_job(**job_request(name, inputs=[s3_input("data", "s3://proc-in/dup/")]))
    error = duplicate.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert error["Message"] == (
        "Job name must be unique within an AWS account and region, and a job with this name already exists "
        f"(arn:aws:sagemaker:us-east-1:123456789012:processing-job/{name})"
    )
    with pytest.raises(ClientError) as unknown:
        sagemaker.describe_processing_job(ProcessingJobName="reelsight-nobody")
    assert (
        unknown.value.response["Error"]["Message"]
        == "Could not find requested job with name reelsight-nobody"
    )
    with pytest.raises(ClientError) as bad_path:
        sagemaker.create_processing_job(
            **job_request(
                "reelsight-bad-path",
                inputs=[
                    {
                        **s3_input("d", "s3://proc-in/dup/"),
                        "S3Input": {
                            **s3_input("d", "s3://proc-in/dup/")["S3Input"],
                            "LocalPath": "/tmp/elsewhere",
                        },
                    }
                ],
            )
        )
    assert "must begin with /opt/ml/processing/" in bad_path.value.response["Error"]["Message"]
    wait_done(sagemaker, name)


def test_manifest_and_prefix_downloads(sagemaker: Any, aws: dict[str, Any]) -> None:
    put(aws["s3"], "cams/cam1.mp4", "cams/cam1.mp4.mov", "cams/sub/b.mp4", "cams/sub/")
    manifest = [{"prefix": "s3://proc-in/cams/"}, "cam1.mp4", "sub/b.mp4"]
    aws["s3"].put_object(Bucket="proc-in", Key="m/input.manifest", Body=json.dumps(manifest).encode())
    name = "reelsight-downloads"
    inputs = [
        s3_input("listed", "s3://proc-in/m/input.manifest", kind="ManifestFile"),
        s3_input("prefix", "s3://proc-in/cams/"),
        s3_input("single", "s3://proc-in/cams/sub/b.mp4"),
    ]
    sagemaker.create_processing_job(**job_request(name, inputs=inputs))
    assert wait_done(sagemaker, name)["ProcessingJobStatus"] == "Completed"
    files = host_records(aws["s3"], name)["algo-1"]["files"]
    assert [f for f in files if f.startswith("listed/")] == ["listed/cam1.mp4", "listed/sub/b.mp4"]
    assert [f for f in files if f.startswith("prefix/")] == [
        "prefix/cam1.mp4",
        "prefix/cam1.mp4.mov",
        "prefix/sub/b.mp4",
    ]
    assert [f for f in files if f.startswith("single/")] == ["single/b.mp4"]


def test_sharded_inputs_are_disjoint_and_complete_replicated_ones_whole(
    sagemaker: Any, aws: dict[str, Any]
) -> None:
    keys = [f"shard/v{i}.mp4" for i in range(5)]
    put(aws["s3"], *keys)
    name = "reelsight-sharded"
    inputs = [
        s3_input("sharded", "s3://proc-in/shard/", distribution="ShardedByS3Key"),
        s3_input("full", "s3://proc-in/shard/", distribution="FullyReplicated"),
    ]
    sagemaker.create_processing_job(**job_request(name, count=3, inputs=inputs))
    assert wait_done(sagemaker, name)["ProcessingJobStatus"] == "Completed"
    records = host_records(aws["s3"], name)
    shares = [
        [f for f in records[h]["files"] if f.startswith("sharded/")] for h in ("algo-1", "algo-2", "algo-3")
    ]
    every = sorted(f"sharded/v{i}.mp4" for i in range(5))
    assert sorted(f for share in shares for f in share) == every  # each object on exactly one host
    assert all(share for share in shares)
    for host in records.values():
        assert [f for f in host["files"] if f.startswith("full/")] == [f"full/v{i}.mp4" for i in range(5)]


def test_a_manifest_naming_missing_objects_fails_before_any_host_runs(
    sagemaker: Any, aws: dict[str, Any], service: ProcessingService
) -> None:
    manifest = [{"prefix": "s3://proc-in/cams/"}, "cam1.mp4", "gone.mp4"]
    aws["s3"].put_object(Bucket="proc-in", Key="m/missing.manifest", Body=json.dumps(manifest).encode())
    name = "reelsight-missing"
    sagemaker.create_processing_job(
        **job_request(
            name, inputs=[s3_input("listed", "s3://proc-in/m/missing.manifest", kind="ManifestFile")]
        )
    )
    job = wait_done(sagemaker, name)
    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("ClientError: ")
    assert (
        "s3://proc-in/cams/gone.mp4" in job["FailureReason"]
        and "cam1.mp4" not in job["FailureReason"].split(":")[-1]
    )
    assert not (Path(service.config.work_dir) / "runs" / name).exists()


def test_a_failing_host_fails_the_job_and_stops_the_others(sagemaker: Any, aws: dict[str, Any]) -> None:
    name = "reelsight-failing"
    began = time.monotonic()
    sagemaker.create_processing_job(**job_request(name, count=2, Environment={"STUB_MODE": "fail"}))
    job = wait_done(sagemaker, name, timeout=30)
    assert time.monotonic() - began < 20  # algo-1 would sleep two minutes: it was stopped
    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("AlgorithmError: algo-2 exited with code 3")
    assert job["ExitMessage"].startswith("the model broke: ")
    assert len(job["ExitMessage"].encode()) == 1024
    assert set(host_records(aws["s3"], name)) == {"algo-1", "algo-2"}  # EndOfJob uploads also on failure


def test_stop_ends_stopped(sagemaker: Any) -> None:
    name = "reelsight-stopped"
    sagemaker.create_processing_job(**job_request(name, Environment={"STUB_MODE": "sleep"}))
    time.sleep(1.0)
    sagemaker.stop_processing_job(ProcessingJobName=name)
    assert sagemaker.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"] in (
        "Stopping",
        "Stopped",
    )
    sagemaker.get_waiter("processing_job_completed_or_stopped").wait(
        ProcessingJobName=name, WaiterConfig=FAST_WAIT
    )
    job = sagemaker.describe_processing_job(ProcessingJobName=name)
    assert job["ProcessingJobStatus"] == "Stopped"
    with pytest.raises(ClientError) as again:
        sagemaker.stop_processing_job(ProcessingJobName=name)
    assert again.value.response["Error"]["Code"] == "ValidationException"


def test_max_runtime_stops_the_job(sagemaker: Any) -> None:
    name = "reelsight-max-runtime"
    began = time.monotonic()
    sagemaker.create_processing_job(
        **job_request(name, Environment={"STUB_MODE": "sleep"}, StoppingCondition={"MaxRuntimeInSeconds": 2})
    )
    job = wait_done(sagemaker, name, timeout=30)
    assert job["ProcessingJobStatus"] == "Stopped" and "FailureReason" not in job
    assert time.monotonic() - began < 15


def test_continuous_outputs_upload_while_the_host_runs(
    sagemaker: Any, aws: dict[str, Any], service: ProcessingService
) -> None:
    name = "reelsight-continuous"
    request = job_request(name, Environment={"STUB_MODE": "continuous"})
    request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3UploadMode"] = "Continuous"
    sagemaker.create_processing_job(**request)
    deadline = time.monotonic() + 30
    seen: list[str] = []
    while time.monotonic() < deadline and f"{name}/early.txt" not in seen:
        seen = [
            o["Key"]
            for o in aws["s3"].list_objects_v2(Bucket="proc-out", Prefix=f"{name}/").get("Contents", [])
        ]
        time.sleep(0.2)
    assert f"{name}/early.txt" in seen
    assert sagemaker.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"] == "InProgress"
    (Path(service.config.work_dir) / "runs" / name / "algo-1" / "release").write_text("go")
    assert wait_done(sagemaker, name)["ProcessingJobStatus"] == "Completed"
    keys = [o["Key"] for o in aws["s3"].list_objects_v2(Bucket="proc-out", Prefix=f"{name}/")["Contents"]]
    assert f"{name}/late.txt" in keys  # the final pass


def test_list_filters_sorts_and_pages(sagemaker: Any) -> None:
    before = time.time() - 0.5
    names = [f"reelsight-list-{i}" for i in range(3)]
    for name in names:
        sagemaker.create_processing_job(**job_request(name))
    for name in names:
        wait_done(sagemaker, name)
    listed = sagemaker.list_processing_jobs(NameContains="LIST-", SortBy="Name", SortOrder="Ascending")
    assert [s["ProcessingJobName"] for s in listed["ProcessingJobSummaries"]] == names
    assert all(s["ProcessingJobStatus"] == "Completed" for s in listed["ProcessingJobSummaries"])
    pages = sagemaker.get_paginator("list_processing_jobs").paginate(
        NameContains="list-", CreationTimeAfter=before, PaginationConfig={"PageSize": 2}
    )
    sizes = [len(page["ProcessingJobSummaries"]) for page in pages]
    assert sizes == [2, 1]
    newest = sagemaker.list_processing_jobs(NameContains="list-", MaxResults=1)["ProcessingJobSummaries"]
    assert newest[0]["ProcessingJobName"] == names[-1]  # CreationTime, Descending by default
    assert sagemaker.list_processing_jobs(StatusEquals="Stopping")["ProcessingJobSummaries"] == []
    later = sagemaker.list_processing_jobs(NameContains="list-", CreationTimeBefore=before)
    assert later["ProcessingJobSummaries"] == []


def test_state_changes_arrive_on_the_rule_target_queue(sagemaker: Any, aws: dict[str, Any]) -> None:
    name = "reelsight-events"
    aws["sqs"].purge_queue(QueueUrl=aws["queue"])
    sagemaker.create_processing_job(**job_request(name))
    wait_done(sagemaker, name)
    events: list[ResultEvent] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(e.source_status == "Completed" for e in events):
        answer = aws["sqs"].receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in answer.get("Messages", []):
            body = json.loads(message["Body"])
            assert body["detail-type"] == "SageMaker Processing Job State Change"
            assert body["source"] == "aws.sagemaker"
            parsed = parse_body(message["Body"])  # what the results Lambda reads
            assert isinstance(parsed, ResultEvent)
            if body["detail"]["ProcessingJobName"] == name:
                events.append(parsed)
    assert [e.source_status for e in events] == ["InProgress", "Completed"]
    assert events[-1].output_location == f"s3://proc-out/{name}/"


def test_a_restarted_service_describes_its_jobs(sagemaker: Any, service: ProcessingService) -> None:
    name = "reelsight-cut-off"
    sagemaker.create_processing_job(**job_request(name, Environment={"STUB_MODE": "sleep"}))
    finished = "reelsight-complete"
    restarted = ProcessingService(service.config)
    try:
        job = restarted.describe({"ProcessingJobName": name})
        assert job["ProcessingJobStatus"] == "Failed" and job["FailureReason"] == RESTARTED
        assert restarted.describe({"ProcessingJobName": finished})["ProcessingJobStatus"] == "Completed"
    finally:
        sagemaker.stop_processing_job(ProcessingJobName=name)
        wait_done(sagemaker, name)


def test_the_real_entrypoint_on_two_hosts(sagemaker: Any, aws: dict[str, Any], tmp_path: Path) -> None:
    for stem in ("north", "south"):
        video = write_video(tmp_path / f"{stem}.mp4", seconds=2, fps=10, width=160, height=120, gop=10)
        aws["s3"].upload_file(str(video.path), "proc-in", f"real/{stem}.mp4")
    name = "reelsight-real"
    request = job_request(
        name, count=2, inputs=[s3_input("video", "s3://proc-in/real/", distribution="ShardedByS3Key")]
    )
    request["AppSpecification"] = {
        "ImageUri": WORKER_IMAGE,
        "ContainerArguments": ["process", "--mode", "frames"],
    }
    request["Environment"] = {"REELSIGHT_FPS": "1"}
    sagemaker.create_processing_job(**request)
    job = wait_done(sagemaker, name, timeout=120)
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    keys = {o["Key"] for o in aws["s3"].list_objects_v2(Bucket="proc-out", Prefix=f"{name}/")["Contents"]}
    assert {f"{name}/manifest-algo-1.json", f"{name}/manifest-algo-2.json"} <= keys
    videos = []
    for host in ("algo-1", "algo-2"):
        manifest = json.loads(
            aws["s3"].get_object(Bucket="proc-out", Key=f"{name}/manifest-{host}.json")["Body"].read()
        )
        videos += [(v["video"], v["status"], v["frames"]) for v in manifest["videos"]]
    assert sorted(videos) == [("north.mp4", "ok", 2), ("south.mp4", "ok", 2)]
    assert any(k.startswith(f"{name}/north/") for k in keys) and any(
        k.startswith(f"{name}/south/") for k in keys
    )
