"""The user-side client against a moto server: upload, job lookup, waiting, listing, fetching."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from lambdas.common.jobids import job_id_for, object_version
from lambdas.common.jobs import to_attribute
from reelsight.client import Client, JobTimeout, StackTarget, describe_summary
from reelsight.testing.moto_server import FAKE_CREDENTIALS, MotoServer


@pytest.fixture()
def client(aws_env: MotoServer) -> Client:
    suffix = uuid.uuid4().hex[:8]
    names = {"input": f"in-{suffix}", "results": f"out-{suffix}", "table": f"jobs-{suffix}"}
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=names["input"])
    s3.create_bucket(Bucket=names["results"])
    boto3.client("dynamodb").create_table(
        TableName=names["table"],
        KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "job_id", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
            {"AttributeName": "created_at", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_status",
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    endpoints = {service: aws_env.url for service in ("s3", "dynamodb", "sqs", "sns")}
    target = StackTarget(
        kind="local",
        input_bucket=names["input"],
        results_bucket=names["results"],
        jobs_table=names["table"],
        endpoints=endpoints,
        credentials=dict(FAKE_CREDENTIALS),
        region="us-east-1",
    )
    return Client(target)


def put_job(client: Client, job: dict[str, Any]) -> None:
    item = {k: to_attribute(v) for k, v in job.items()}
    client.dynamodb.put_item(TableName=client.target.jobs_table, Item=item)


def test_upload_sets_metadata_and_derives_the_dispatcher_job_id(client: Client, tmp_path: Path) -> None:
    video = tmp_path / "my clip.mp4"
    video.write_bytes(b"v" * 2048)
    seen: list[int] = []
    sub = client.upload(video, {"fps": "2", "include": "masks+preview"}, progress=seen.append)
    assert sub.key.startswith("incoming/") and sub.key.endswith("/my clip.mp4")
    assert sum(seen) == 2048
    head = client.s3.head_object(Bucket=sub.bucket, Key=sub.key)
    assert head["Metadata"] == {"fps": "2", "include": "masks+preview"}
    assert sub.job_ids()[-1] == job_id_for(sub.bucket, sub.key, object_version(None, head["ETag"]))


def test_wait_follows_status_changes(client: Client, tmp_path: Path) -> None:
    video = tmp_path / "a.mp4"
    video.write_bytes(b"a")
    sub = client.upload(video)
    job_id = sub.job_ids()[-1]
    base = {"job_id": job_id, "source": sub.source, "created_at": "2026-01-01T00:00:00.000Z"}

    following = {"UPLOADED": "QUEUED", "QUEUED": "RUNNING", "RUNNING": "SUCCEEDED"}
    changes: list[str] = []

    def on_change(status: str, job: dict[str, Any]) -> None:
        changes.append(status)
        if status in following:  # the stack moves on only once the client has seen each state
            put_job(client, {**base, "status": following[status]})

    job = client.wait(sub, timeout=20, interval=0.1, on_change=on_change)
    assert job["status"] == "SUCCEEDED"
    assert changes == ["UPLOADED", "QUEUED", "RUNNING", "SUCCEEDED"]


def test_wait_times_out_with_the_last_status(client: Client, tmp_path: Path) -> None:
    video = tmp_path / "a.mp4"
    video.write_bytes(b"b")
    sub = client.upload(video)
    with pytest.raises(JobTimeout, match="UPLOADED"):
        client.wait(sub, timeout=0.5, interval=0.1)


def test_find_job_by_source_when_the_id_differs(client: Client, tmp_path: Path) -> None:
    video = tmp_path / "a.mp4"
    video.write_bytes(b"c")
    sub = client.upload(video)
    put_job(client, {"job_id": "other-id", "source": sub.source, "status": "QUEUED", "created_at": "x"})
    job = client.find_job(sub)
    assert job is not None and job["job_id"] == "other-id"


def test_recent_jobs_newest_first(client: Client) -> None:
    for i, status in enumerate(("SUCCEEDED", "FAILED", "QUEUED", "SUCCEEDED")):
        put_job(client, {"job_id": f"j{i}", "status": status, "created_at": f"2026-01-01T00:00:0{i}.000Z"})
    assert client._status_index() == "by_status"
    assert [j["job_id"] for j in client.recent_jobs(limit=3)] == ["j3", "j2", "j1"]


def test_fetch_writes_summary_frames_and_artifacts(client: Client, tmp_path: Path) -> None:
    results = client.target.results_bucket
    document = {
        "schema_version": "1.0",
        "summary": {"frames_sampled": 2, "model": {"name": "ssdlite", "random_weights": True}},
        "frames": [{"frame_index": 0, "timestamp": 0.0}, {"frame_index": 30, "timestamp": 1.0}],
    }
    client.s3.put_object(Bucket=results, Key="async/output/x.out", Body=json.dumps(document).encode())
    client.s3.put_object(Bucket=results, Key="jobs/j1/artifacts/contact_sheet.png", Body=b"png")
    client.s3.put_object(Bucket=results, Key="jobs/j1/artifacts/masks/000000.png", Body=b"m")
    job = {"job_id": "j1", "status": "SUCCEEDED", "output_location": f"s3://{results}/async/output/x.out"}
    put_job(client, job)
    files = client.fetch("j1", tmp_path / "out")
    names = sorted(str(f.relative_to(tmp_path / "out")) for f in files)
    assert names == [
        "artifacts/contact_sheet.png",
        "artifacts/masks/000000.png",
        "frames.jsonl",
        "job.json",
        "summary.json",
    ]
    frames = (tmp_path / "out" / "frames.jsonl").read_text().splitlines()
    assert [json.loads(line)["frame_index"] for line in frames] == [0, 30]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert any("RANDOM WEIGHTS" in line for line in describe_summary(summary))


def test_fetch_failed_job_keeps_the_failure_text(client: Client, tmp_path: Path) -> None:
    results = client.target.results_bucket
    client.s3.put_object(Bucket=results, Key="async/failure/x-error.out", Body=b"bad video")
    put_job(
        client,
        {"job_id": "f1", "status": "FAILED", "failure_location": f"s3://{results}/async/failure/x-error.out"},
    )
    client.fetch("f1", tmp_path / "f")
    assert (tmp_path / "f" / "failure.txt").read_bytes() == b"bad video"
    assert not (tmp_path / "f" / "summary.json").exists()


def test_aws_target_reads_cloudformation_outputs(
    aws_env: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reelsight.client import aws_target, discover

    for name in ("REELSIGHT_INPUT_BUCKET", "REELSIGHT_RESULTS_BUCKET", "REELSIGHT_JOBS_TABLE"):
        monkeypatch.delenv(name, raising=False)
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "InputBucketName": {"Value": "in-b"},
            "ResultsBucketName": {"Value": "out-b"},
            "JobsTableName": {"Value": "jobs-t"},
            "ExportsOutputFnGetAttResultsBucketArn": {"Value": "arn:aws:s3:::out-b"},
        },
    }
    suffix = uuid.uuid4().hex[:6]
    cfn = boto3.client("cloudformation")
    cfn.create_stack(StackName=f"ReelsightData{suffix}", TemplateBody=json.dumps(template))
    target = aws_target(stack_prefix=f"reelsightdata{suffix}")
    assert (target.kind, target.input_bucket, target.results_bucket, target.jobs_table) == (
        "aws",
        "in-b",
        "out-b",
        "jobs-t",
    )
    with pytest.raises(Exception, match="no deployed reelsight stack"):
        discover("aws", stack_prefix="nothing-like-this")


def test_aws_target_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from reelsight.client import aws_target

    monkeypatch.setenv("REELSIGHT_INPUT_BUCKET", "i")
    monkeypatch.setenv("REELSIGHT_RESULTS_BUCKET", "r")
    monkeypatch.setenv("REELSIGHT_JOBS_TABLE", "t")
    target = aws_target()
    assert (target.input_bucket, target.results_bucket, target.jobs_table) == ("i", "r", "t")
