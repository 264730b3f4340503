"""The local stack's moto server sends S3 events with ``versionId`` and ``sequencer``, as AWS does."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from reelsight.local.moto_events import SEQUENCER_DIGITS
from reelsight.testing.moto_server import FAKE_CREDENTIALS, MotoServer

BODY = b"\x00\x00\x00\x18ftypmp42 the same bytes each time"


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    with MotoServer(module="reelsight.local.moto_events") as running:
        yield running


def _clients(server: MotoServer) -> tuple[Any, Any]:
    kwargs = {
        "endpoint_url": server.url,
        "region_name": "us-east-1",
        "aws_access_key_id": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }
    return boto3.client("s3", **kwargs), boto3.client("sqs", **kwargs)


def _bucket_to_queue(server: MotoServer, *, versioned: bool) -> tuple[str, str]:
    s3, sqs = _clients(server)
    name = f"events-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=name,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    return name, url


def _objects(server: MotoServer, url: str, count: int) -> list[dict[str, Any]]:
    """The ``s3.object`` of the first ``count`` object events on the queue (test events skipped)."""
    _, sqs = _clients(server)
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + 15
    while len(found) < count and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            body = json.loads(message["Body"])
            found += [{**r["s3"]["object"], "eventName": r["eventName"]} for r in body.get("Records", [])]
    return found


def test_each_write_of_the_same_bytes_carries_its_version_and_a_new_sequencer(server: MotoServer) -> None:
    s3, _ = _clients(server)
    bucket, url = _bucket_to_queue(server, versioned=True)
    puts = [s3.put_object(Bucket=bucket, Key="incoming/clip.mp4", Body=BODY) for _ in range(2)]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="incoming/clip.mp4")
    part = s3.upload_part(
        Bucket=bucket, Key="incoming/clip.mp4", UploadId=upload["UploadId"], PartNumber=1, Body=BODY
    )
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="incoming/clip.mp4",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )

    objects = _objects(server, url, 4)

    # moto announces a completed multipart upload twice (Put, then CompleteMultipartUpload): the
    # same write, so the same version and sequencer, which the dispatcher takes as one redelivery.
    multipart = objects[2:]
    assert [o["eventName"] for o in multipart] == [
        "ObjectCreated:Put",
        "ObjectCreated:CompleteMultipartUpload",
    ]
    assert {(o["versionId"], o["sequencer"]) for o in multipart} == {
        (done["VersionId"], multipart[0]["sequencer"])
    }
    assert [o["versionId"] for o in objects[:3]] == [
        puts[0]["VersionId"],
        puts[1]["VersionId"],
        done["VersionId"],
    ]
    assert objects[0]["eTag"] == objects[1]["eTag"]
    sequencers = [o["sequencer"] for o in objects[:3]]
    assert all(len(s) == SEQUENCER_DIGITS and int(s, 16) for s in sequencers)
    assert sequencers == sorted(set(sequencers))  # one per write, growing


def test_an_unversioned_bucket_gets_a_sequencer_and_no_version(server: MotoServer) -> None:
    s3, _ = _clients(server)
    bucket, url = _bucket_to_queue(server, versioned=False)
    for _ in range(2):
        s3.put_object(Bucket=bucket, Key="incoming/clip.mp4", Body=BODY)

    objects = _objects(server, url, 2)

    assert [("versionId" in o) for o in objects] == [False, False]
    assert objects[0]["sequencer"] < objects[1]["sequencer"]
