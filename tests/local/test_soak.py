"""The soak with faults: its pieces, and a 100-upload run through the whole local stack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from reelsight import envvars
from reelsight.local.faults import DuplicateDeliveries, read_faults
from reelsight.local.soak import (
    BROKEN_KINDS,
    GOOD,
    Soak,
    SoakOptions,
    fault_schedule,
    percentile,
    upload_kinds,
)
from reelsight.testing.moto_server import MotoServer


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.95), percentile(values, 1.0)) == (50.0, 95.0, 100.0)
    assert percentile([3.0], 0.95) == 3.0 and percentile([], 0.5) == 0.0


def test_broken_uploads_rotate_through_every_kind() -> None:
    kinds = upload_kinds(100, broken_every=10)
    assert kinds.count(GOOD) == 90
    assert set(kinds) - {GOOD} == set(BROKEN_KINDS)
    assert kinds[9] == BROKEN_KINDS[0] and kinds[0] == GOOD


def test_schedule_spreads_the_kills_over_the_run() -> None:
    schedule = fault_schedule(SoakOptions(worker_kills=3, endpoint_kills=1, malformed=5))
    assert [f for _, f in schedule].count("worker") == 3 and [f for _, f in schedule].count("endpoint") == 1
    assert all(0 < fraction < 1 for fraction, _ in schedule)
    assert schedule == sorted(schedule)


def _queue(sqs: Any, name: str) -> str:
    return str(sqs.create_queue(QueueName=name)["QueueUrl"])


def test_duplicates_a_fixed_share_of_real_messages_once_each(
    aws_env: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs = boto3.client("sqs")
    url = _queue(sqs, "dup-test")
    for i in range(200):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": i}))
    monkeypatch.setenv(envvars.LOCAL_DUPLICATE_FRACTION, "0.1")
    monkeypatch.setenv(envvars.LOCAL_FAULTS_FILE, str(tmp_path / "faults.jsonl"))
    faults = DuplicateDeliveries.from_env()
    assert faults is not None
    received: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        received += batch
        faults.apply(sqs, url, batch)
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    bodies = [m["Body"] for m in received]
    copies = len(bodies) - 200
    assert copies == 20  # a tenth of 200, and no copy was copied again
    assert len(set(bodies)) == 200 and max(bodies.count(b) for b in bodies) == 2
    recorded = read_faults(tmp_path / "faults.jsonl")
    assert len(recorded) == copies and {f["fault"] for f in recorded} == {"duplicate"}


def test_without_its_variables_nothing_is_duplicated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(envvars.LOCAL_DUPLICATE_FRACTION, raising=False)
    assert DuplicateDeliveries.from_env() is None
    monkeypatch.setenv(envvars.LOCAL_DUPLICATE_FRACTION, "2")
    monkeypatch.setenv(envvars.LOCAL_FAULTS_FILE, "faults.jsonl")
    with pytest.raises(ValueError, match="between 0 and 1"):
        DuplicateDeliveries.from_env()


@pytest.mark.slow
def test_soak_100_uploads_with_faults(cdk_out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The small soak of `make test`: 100 uploads, the worker killed 3 times and the endpoint once,
    a tenth of the S3 notifications and SNS deliveries duplicated, malformed events and broken videos."""
    for name in (envvars.LOCAL_DUPLICATE_FRACTION, envvars.LOCAL_FAULTS_FILE):
        monkeypatch.delenv(name, raising=False)  # the soak sets them for its stack; restored afterwards
    options = SoakOptions(
        uploads=100, malformed=6, timeout=600, state_dir=str(tmp_path / "stack"), cdk_out=str(cdk_out)
    )
    lines: list[str] = []
    report = Soak(options, echo=lines.append).run()
    text = report.to_text()
    print(text)
    assert report.passed, text
    assert report.lost == [] and report.run_twice == [] and report.sent_twice == []
    assert sum(report.uploads.values()) == 100 and report.jobs == 100
    assert set(report.uploads) == {GOOD, *BROKEN_KINDS}
    assert report.faults["worker_kills"] == 3
    kills = report.faults["kills"]
    endpoint_kill = next(k for k in kills if k["process"] == "endpoint")
    assert endpoint_kill["running"] >= 1  # killed while it held work
    assert report.faults["restarts"]["worker"] == 3 and report.faults["restarts"]["endpoint"] == 1
    assert report.faults["duplicated_s3_notifications"] >= 1
    assert report.faults["duplicated_sns_deliveries"] >= 1
    assert report.faults["malformed_dropped_with_error_log"] >= report.faults["malformed_sent"] == 6
    assert report.dead_letters and not any(report.dead_letters.values())
    assert 0 < report.latency["p50"] <= report.latency["p95"]
    assert "measures the plumbing" in text
