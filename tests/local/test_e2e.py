"""The whole flow on the local stack: upload -> S3 event -> dispatcher -> async endpoint -> worker ->
SNS -> results Lambda -> jobs table and user notification. One stack serves every test here."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest

from reelsight.client import Client, Submission, local_target
from reelsight.local.launcher import LaunchRequest, launch
from reelsight.local.state import marked_processes, pid_alive, read_state
from reelsight.local.supervisor import stop_stack
from reelsight.testing.videos import write_not_a_video, write_video

pytestmark = pytest.mark.slow
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "PARTIAL"})


@dataclass
class Stack:
    state_dir: Path
    state: dict[str, Any]
    client: Client

    def refresh(self) -> dict[str, Any]:
        self.state = read_state(self.state_dir) or {}
        return self.state

    def aws(self, service: str) -> Any:
        return self.client._client(service)

    def endpoint_stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.state['endpoint_url']}/local/stats", timeout=5) as resp:
            return dict(json.load(resp))

    def queue_url(self, role: str) -> str:
        plan = json.loads((self.state_dir / "plan.json").read_text())
        return str(next(q["url"] for q in plan["queues"] if q["role"] == role))

    def queue_depth(self, role: str) -> int:
        attrs = self.aws("sqs").get_queue_attributes(QueueUrl=self.queue_url(role), AttributeNames=["All"])
        values = attrs["Attributes"]
        return int(values["ApproximateNumberOfMessages"]) + int(
            values["ApproximateNumberOfMessagesNotVisible"]
        )


def running_stack(
    state_dir: Path, cdk_out: Path, *, model: str, fps: str, api: bool = False
) -> Iterator[Stack]:
    """A local stack with random weights and small frames, for a module's tests; stopped afterwards."""
    request = LaunchRequest(
        state_dir=str(state_dir),
        cdk_out=str(cdk_out),
        synth=False,
        model=model,
        weights="random",
        fps=fps,
        size="160x120",
        api=api,
        timeout=240,
    )
    state = launch(request, echo=lambda line: None)
    try:
        target = local_target(state_dir)
        assert target is not None
        yield Stack(state_dir, state, Client(target))
    finally:
        stop_stack(state_dir)


@pytest.fixture(scope="module")
def stack(cdk_out: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # The fastest model: these tests are about the flow, not the pixels.
    yield from running_stack(tmp_path_factory.mktemp("local-stack"), cdk_out, model="ssdlite", fps="1")


def wait_terminal(
    client: Client, submissions: list[Submission], timeout: float, terminal: frozenset[str] = TERMINAL
) -> dict[str, dict[str, Any]]:
    jobs: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for sub in submissions:
            if sub.key in jobs and jobs[sub.key]["status"] in terminal:
                continue
            job = client.find_job(sub)
            if job:
                jobs[sub.key] = job.to_item()
        if len(jobs) == len(submissions) and all(j["status"] in terminal for j in jobs.values()):
            return jobs
        time.sleep(1.0)
    pending = {k: j.get("status") for k, j in jobs.items() if j.get("status") not in terminal}
    missing = [s.key for s in submissions if s.key not in jobs]
    raise AssertionError(f"not terminal after {timeout}s: pending {pending}, never recorded {missing[:5]}")


def subscribe_results(stack: Stack) -> str:
    sqs, sns = stack.aws("sqs"), stack.aws("sns")
    url = sqs.create_queue(QueueName=f"test-results-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = stack.state["names"]["results_topic"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    return str(url)


def drain(stack: Stack, url: str, want: int, timeout: float = 30) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    sqs = stack.aws("sqs")
    while len(found) < want and time.monotonic() < deadline:
        for msg in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            found.append(json.loads(msg["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    return found


def test_second_up_reuses_the_running_stack(stack: Stack, cdk_out: Path) -> None:
    again = launch(
        LaunchRequest(state_dir=str(stack.state_dir), cdk_out=str(cdk_out), synth=False), echo=print
    )
    assert again["supervisor_pid"] == stack.state["supervisor_pid"]
    assert again["marker"] == stack.state["marker"]


def test_three_uploads_two_succeed_one_fails(stack: Stack, tmp_path: Path) -> None:
    notifications = subscribe_results(stack)
    good_a = write_video(tmp_path / "a.mp4", seconds=2, fps=10, width=160, height=120, gop=10)
    good_b = write_video(tmp_path / "b clip.mp4", seconds=3, fps=10, width=192, height=108, gop=10)
    broken = write_not_a_video(tmp_path / "broken.mp4")

    sub_a = stack.client.upload(good_a.path, {"fps": "1"})
    sub_broken = stack.client.upload(broken, {})
    cli = subprocess.run(
        [sys.executable, "-m", "reelsight", "submit", str(good_b.path), "--fps", "2", "--max-frames", "4",
         "--wait", "--timeout", "180", "--no-progress", "--target", "local",
         "--state-dir", str(stack.state_dir),
         "--fetch", str(tmp_path / "fetched")],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr
    # Every stage is shown, also those the job passed between two polls (from its status history).
    shown = re.findall(r"^  status: (\w+)", cli.stdout, re.M)
    assert shown[-3:] == ["QUEUED", "RUNNING", "SUCCEEDED"], cli.stdout
    assert "RANDOM WEIGHTS" in cli.stdout
    job_line = next(line for line in cli.stdout.splitlines() if line.startswith("job id: "))
    cli_job_id = job_line.removeprefix("job id: ").strip()

    jobs = wait_terminal(stack.client, [sub_a, sub_broken], timeout=180)
    job_a, job_broken = jobs[sub_a.key], jobs[sub_broken.key]
    record_b = stack.client.get_job(cli_job_id)
    assert record_b is not None
    job_b = record_b.to_item()
    assert job_a["status"] == "SUCCEEDED" and job_b["status"] == "SUCCEEDED"
    assert job_broken["status"] == "FAILED"
    assert job_broken.get("reason"), job_broken

    # The jobs table agrees with S3: outputs exist and hold the result document.
    for job, frames in ((job_a, 2), (job_b, 4)):
        assert job["source"].endswith(Path(job["key"]).name)
        assert [h["status"] for h in job["status_history"]][-1] == "SUCCEEDED"
        assert job["status_history"][0]["status"] == "QUEUED"
        files = stack.client.fetch(job["job_id"], tmp_path / job["job_id"])
        summary = json.loads((tmp_path / job["job_id"] / "summary.json").read_text())
        assert summary["frames_sampled"] == frames
        assert summary["model"]["random_weights"] is True
        lines = (tmp_path / job["job_id"] / "frames.jsonl").read_text().splitlines()
        assert len(lines) == frames
        assert any(f.name == "contact_sheet.png" for f in files)
    assert (tmp_path / "fetched" / "frames.jsonl").is_file()  # `submit --fetch`

    # One user notification per job on the results topic.
    messages = drain(stack, notifications, 3)
    by_job = {m["job_id"]: m for m in messages}
    assert set(by_job) == {job_a["job_id"], job_b["job_id"], job_broken["job_id"]}
    assert by_job[job_broken["job_id"]]["status"] == "FAILED" and by_job[job_broken["job_id"]]["reason"]
    assert by_job[job_a["job_id"]]["status"] == "SUCCEEDED"

    for role in ("upload-dead-letter-queue", "results-dead-letter-queue"):
        assert stack.queue_depth(role) == 0

    status = subprocess.run(
        [sys.executable, "-m", "reelsight", "status", "--target", "local",
         "--state-dir", str(stack.state_dir)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert job_broken["job_id"] in status.stdout and "FAILED" in status.stdout


def test_a_key_with_percent_plus_and_space_is_recorded_as_it_is(stack: Stack, tmp_path: Path) -> None:
    clip = write_video(tmp_path / "c%20literal a+b.mp4", seconds=1, fps=10, width=160, height=120, gop=10)
    sub = stack.client.upload(clip.path, {"max-frames": "1"})
    job = wait_terminal(stack.client, [sub], timeout=180)[sub.key]
    uri = f"s3://{sub.bucket}/{sub.key}"
    assert job["status"] == "SUCCEEDED", job
    assert (job["key"], job["source"]) == (sub.key, uri)
    stack.client.fetch(job["job_id"], tmp_path / "fetched")
    summary = json.loads((tmp_path / "fetched" / "summary.json").read_text())
    assert summary["video"]["uri"] == uri and uri.endswith("/c%20literal a+b.mp4")


def s3_event_body(bucket: str, key: str, etag: str, size: int, version_id: str | None) -> str:
    """An S3 ObjectCreated notification as S3 sends it to the upload queue (the input bucket is
    versioned, so a delivery of the same write carries the same version id)."""
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2026-01-01T00:00:00.000Z",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": quote_plus(key), "size": size, "eTag": etag, "versionId": version_id},
        },
    }
    return json.dumps({"Records": [record]})


def test_burst_of_50_with_duplicate_delivery_and_worker_kill(stack: Stack, tmp_path: Path) -> None:
    clip = write_video(tmp_path / "tiny.mp4", seconds=1, fps=5, width=96, height=64, gop=5)
    options = {"max_frames": "1", "include": "masks"}
    before = stack.endpoint_stats()

    def upload(i: int) -> Submission:
        return stack.client.upload(clip.path, options, key=f"incoming/burst/{i:02d}.mp4")

    with ThreadPoolExecutor(max_workers=6) as pool:
        submissions = list(pool.map(upload, range(50)))

    # S3 delivers at least once: the first upload's notification arrives a second time.
    first = submissions[0]
    assert first.version_id, "the local input bucket is versioned, as the deployed one"
    stack.aws("sqs").send_message(
        QueueUrl=stack.queue_url("upload-queue"),
        MessageBody=s3_event_body(first.bucket, first.key, first.etag, first.size, first.version_id),
    )

    # Kill the worker once, mid-run; the supervisor restarts it.
    worker_pid = stack.refresh()["processes"]["worker"]["pid"]
    deadline = time.monotonic() + 120
    while stack.endpoint_stats()["invocations"] < before["invocations"] + 8 and time.monotonic() < deadline:
        time.sleep(0.2)
    os.kill(worker_pid, signal.SIGKILL)

    jobs = wait_terminal(stack.client, submissions, timeout=420)
    statuses = [j["status"] for j in jobs.values()]
    # Only what the worker held when it died may fail (PARTIAL when it had written result parts),
    # each with its reason.
    failed = [j for j in jobs.values() if j["status"] in ("FAILED", "PARTIAL")]
    assert len(jobs) == 50 and set(statuses) <= TERMINAL
    for job in failed:
        assert "stopped during the invocation" in job.get("reason", ""), job
    assert len(failed) <= 2  # MaxConcurrentInvocationsPerInstance

    stats = stack.endpoint_stats()
    burst_counts = {src: n for src, n in stats["invocations_by_input"].items() if "/incoming/burst/" in src}
    assert max(burst_counts.values()) == 1, "a job reached the worker twice"
    assert burst_counts.get(first.source) == 1
    assert len(burst_counts) == 50
    state = stack.refresh()
    assert state["processes"]["worker"]["restarts"] >= 1
    assert state["processes"]["worker"]["pid"] != worker_pid
    assert pid_alive(state["processes"]["worker"]["pid"])
    for role in ("upload-dead-letter-queue", "results-dead-letter-queue"):
        assert stack.queue_depth(role) == 0


def job_records_for(stack: Stack, sources: set[str]) -> list[dict[str, Any]]:
    scan = stack.aws("dynamodb").get_paginator("scan").paginate(TableName=stack.client.target.jobs_table)
    return [item for page in scan for item in page["Items"] if item.get("source", {}).get("S") in sources]


def test_every_upload_under_the_prefix_is_accounted_for(stack: Stack, tmp_path: Path) -> None:
    """Prefix-only notifications: videos in any case become jobs, anything else a REJECTED job."""
    notifications = subscribe_results(stack)
    videos = {
        "incoming/CLIP.MP4": tmp_path / "CLIP.MP4",
        "incoming/b.MOV": tmp_path / "b.MOV",
        "incoming/c.ts": tmp_path / "c.ts",  # PyAV picks the mpegts muxer from the suffix
    }
    for path in videos.values():
        write_video(path, seconds=1, fps=5, width=96, height=64, gop=5)
    notes = tmp_path / "notes.txt"
    notes.write_text("meeting notes, not a video\n")
    started = time.monotonic()
    submissions = [stack.client.upload(path, {"max_frames": "1"}, key=key) for key, path in videos.items()]
    submissions.append(stack.client.upload(notes, {}, key="incoming/notes.txt"))

    jobs = wait_terminal(stack.client, submissions, timeout=180, terminal=TERMINAL | {"REJECTED"})
    print(f"4 uploads accounted for in {time.monotonic() - started:.1f}s")

    for key in videos:
        assert jobs[key]["status"] == "SUCCEEDED", jobs[key]
        assert jobs[key]["summary"]["frames_sampled"] == 1
    rejected = jobs["incoming/notes.txt"]
    assert rejected["status"] == "REJECTED"
    assert "not a supported video" in rejected["reason"] and ".mp4" in rejected["reason"]
    assert [entry["status"] for entry in rejected["status_history"]] == ["REJECTED"]
    # One job record per upload, one notification per job, nothing left in a dead-letter queue.
    assert len(job_records_for(stack, {sub.source for sub in submissions})) == len(submissions)
    by_job = {m["job_id"]: m for m in drain(stack, notifications, len(submissions))}
    assert set(by_job) == {job["job_id"] for job in jobs.values()}
    assert by_job[rejected["job_id"]]["status"] == "REJECTED"
    assert by_job[rejected["job_id"]]["reason"] == rejected["reason"]
    by_input = stack.endpoint_stats()["invocations_by_input"]
    assert all(by_input.get(sub.source) == 1 for sub in submissions[:3])
    assert submissions[3].source not in by_input
    for role in ("upload-dead-letter-queue", "results-dead-letter-queue"):
        assert stack.queue_depth(role) == 0


def test_a_tracked_job_writes_tracks_consistent_with_its_frames(stack: Stack, tmp_path: Path) -> None:
    """track=true through the whole flow: the dispatcher adds tracking's rate, the worker tracks and
    uploads tracks.jsonl, the job record and the notification carry the unique objects per class.
    (The stack's model has random weights: how well it tracks is tests/core/test_tracking_quality.py's.)"""
    from reelsight.contract.options import TRACK_FPS
    from reelsight.contract.tracks import read_tracks_jsonl, unique_objects_per_class
    from reelsight.results import read_frames_jsonl
    from reelsight.tracking import tracks_from_frames

    notifications = subscribe_results(stack)
    clip = write_video(tmp_path / "tracked.mp4", seconds=1, fps=10, width=160, height=120, gop=10)
    tracked = stack.client.upload(clip.path, {"track": "true", "max-frames": "6"})
    semantic = stack.client.upload(clip.path, {"track": "true", "model": "deeplabv3_resnet50"})
    jobs = wait_terminal(stack.client, [tracked, semantic], timeout=180)
    job, refused = jobs[tracked.key], jobs[semantic.key]
    assert job["status"] == "SUCCEEDED", job
    assert job["params"] == {"track": "true", "max_frames": "6", "fps": "10"}
    assert refused["status"] == "FAILED" and "track needs a model that outputs boxes" in refused["reason"]

    out = tmp_path / "fetched"
    stack.client.fetch(job["job_id"], out)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["params"]["track"] is True and summary["params"]["sampling"]["fps"] == TRACK_FPS
    assert summary["artifacts"]["tracks"].endswith(f"/jobs/{job['job_id']}/artifacts/tracks.jsonl")
    frames = list(read_frames_jsonl(out / "frames.jsonl"))
    assert len(frames) == 6
    for frame in frames:
        assert frame.detections is not None and frame.detections.track_ids is not None
        assert len(frame.detections.track_ids) == len(frame.detections)
    tracks = list(read_tracks_jsonl(out / "tracks.jsonl"))
    assert [t.to_json() for t in tracks] == [t.to_json() for t in tracks_from_frames(frames)]
    unique = unique_objects_per_class(tracks)
    assert summary["unique_objects_per_class"] == unique == job["summary"]["unique_objects_per_class"]

    by_job = {m["job_id"]: m for m in drain(stack, notifications, 2)}
    assert by_job[job["job_id"]]["summary"]["unique_objects_per_class"] == unique
    assert by_job[refused["job_id"]]["status"] == "FAILED"


def test_down_leaves_no_process_behind(stack: Stack) -> None:
    state = stack.refresh()
    pids = [p["pid"] for p in state["processes"].values()] + [state["supervisor_pid"]]
    assert marked_processes(state["marker"])  # the stack's processes carry the marker
    assert stop_stack(stack.state_dir) is True
    assert marked_processes(state["marker"]) == []
    assert not any(pid_alive(pid) for pid in pids)
    assert (read_state(stack.state_dir) or {}).get("status") == "stopped"
    assert stop_stack(stack.state_dir) is False  # a second down finds nothing to stop
