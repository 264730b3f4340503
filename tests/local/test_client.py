"""The user-side client against a moto server: upload, job lookup, waiting, listing, fetching.

The jobs it reads are the real producers' (tests/contract/job_chain.py), not hand-written items.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from lambdas.common.jobids import job_id_for, object_version
from reelsight.client import Client, JobTimeout, StackTarget, describe_summary
from reelsight.contract.jobs import JobRecord, JobStatus
from reelsight.testing.moto_server import FAKE_CREDENTIALS, MotoServer
from tests.contract.job_chain import JobChain


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


@pytest.fixture()
def chain(aws_env: MotoServer, client: Client) -> JobChain:
    """The dispatcher and the results handler, on the client's stack."""
    target = client.target
    return JobChain.on_moto(
        aws_env.url,
        jobs_table=target.jobs_table,
        input_bucket=target.input_bucket,
        results_bucket=target.results_bucket,
    )


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


def test_wait_follows_status_changes(client: Client, chain: JobChain, tmp_path: Path) -> None:
    video = tmp_path / "a.mp4"
    video.write_bytes(b"a")
    sub = client.upload(video, {"route": "processing"})
    changes: list[str] = []

    def on_change(status: str, job: JobRecord | None) -> None:
        changes.append(status)  # the stack moves on only once the client has seen each state
        if job is None:
            chain.dispatch(sub.key)
        elif job.status is JobStatus.QUEUED:
            chain.processing_started(job)
        elif job.status is JobStatus.RUNNING:
            chain.processing_state(job, "Completed")

    job = client.wait(sub, timeout=20, interval=0.1, on_change=on_change)
    assert job.status is JobStatus.SUCCEEDED and job.job_id == sub.job_ids()[-1]
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
    # An id the client cannot derive (an older dispatcher's, say), written through the table's contract.
    client.jobs.create(JobRecord(job_id="other-id", status=JobStatus.QUEUED, source=sub.source))
    job = client.find_job(sub)
    assert job is not None and job.job_id == "other-id"


def test_recent_jobs_newest_first(client: Client, chain: JobChain) -> None:
    finish: list[Callable[[JobRecord], object]] = [
        lambda job: chain.processing_state(job, "Completed"),
        lambda job: chain.processing_state(job, "Failed"),
        lambda job: job,
        lambda job: chain.processing_state(job, "Completed"),
    ]
    ids = [end(chain.upload(f"incoming/j{i}.mp4", route="processing")).job_id for i, end in enumerate(finish)]
    recent = client.recent_jobs(limit=3)
    assert [job.job_id for job in recent] == [ids[3], ids[2], ids[1]]
    assert [job.status for job in recent] == [JobStatus.SUCCEEDED, JobStatus.QUEUED, JobStatus.FAILED]


def test_fetch_downloads_the_artifacts_as_they_are(client: Client, chain: JobChain, tmp_path: Path) -> None:
    from reelsight.results import FrameResult, FramesWriter, RunSummary
    from reelsight.worker.artifacts import ArtifactStore
    from reelsight.worker.handler import output_fn

    results = client.target.results_bucket
    run = tmp_path / "run"
    with FramesWriter(run / "frames.jsonl") as writer:
        writer.write_all(
            FrameResult(frame_index=i * 30, timestamp=float(i), width=8, height=8) for i in range(2)
        )
    (run / "masks").mkdir()
    (run / "masks" / "000000.png").write_bytes(b"m")
    (run / "contact_sheet.png").write_bytes(b"png")
    summary = RunSummary(
        frames_sampled=writer.frames_written,
        model={"name": "ssdlite", "random_weights": True},
        artifacts={"frames": "frames.jsonl", "summary": "summary.json", "contact_sheet": "contact_sheet.png"},
    )
    queued = chain.upload("incoming/fetch.mp4")
    body = output_fn(
        summary,
        run,
        job_id=queued.job_id,
        store=ArtifactStore(results, client=client.s3),
        max_response_bytes=10**6,
    )
    client.s3.put_object(Bucket=results, Key="async/output/x.out", Body=body)
    chain.complete_async(queued, f"s3://{results}/async/output/x.out")
    files = client.fetch(queued.job_id, tmp_path / "out")
    names = sorted(str(f.relative_to(tmp_path / "out")) for f in files)
    assert names == ["contact_sheet.png", "frames.jsonl", "job.json", "masks/000000.png", "summary.json"]
    for name in ("frames.jsonl", "contact_sheet.png", "masks/000000.png"):  # byte for byte, not re-split
        assert (tmp_path / "out" / name).read_bytes() == (run / name).read_bytes()
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == json.loads(body)
    summary_json = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert any("RANDOM WEIGHTS" in line for line in describe_summary(summary_json))


def test_fetch_failed_job_keeps_the_failure_text(client: Client, chain: JobChain, tmp_path: Path) -> None:
    failed = chain.fail_async(chain.upload("incoming/broken.mp4"), "bad video")
    client.fetch(failed.job_id, tmp_path / "f")
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
