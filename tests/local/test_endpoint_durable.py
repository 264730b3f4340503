"""The local async endpoint's durable queue: the endpoint process is killed with requests running and
queued, restarted on the same queue file, and every request ends exactly once."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from reelsight.local.async_endpoint import RESTART_REASON, AsyncRequest, LocalAsyncEndpoint
from reelsight.local.endpoint_queue import COMPLETED, Outcome, RequestQueue
from reelsight.local.state import kill_group
from reelsight.local.supervisor import ManagedProcess
from reelsight.testing.moto_server import MotoServer, free_port
from tests.local.fake_worker import FakeWorker
from tests.local.test_async_endpoint import ENDPOINT, Rig

pytestmark = pytest.mark.slow


class EndpointProcess:
    """``python -m reelsight.local.async_endpoint`` as the supervisor runs it, on one queue file."""

    def __init__(self, rig: Rig, worker_url: str, directory: Path, **config: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.queue_path = directory / "endpoint-queue.sqlite3"
        config_path = directory / "endpoint.json"
        fields = {**rig.config(worker_url, **config).__dict__, "queue_path": str(self.queue_path)}
        config_path.write_text(json.dumps(fields))
        argv = [sys.executable, "-m", "reelsight.local.async_endpoint", "--config", str(config_path)]
        self.proc = ManagedProcess(
            "endpoint",
            [*argv, "--port", str(self.port)],
            dict(os.environ),
            directory / "endpoint.log",
            health_url=f"{self.url}/ping",
        )

    def start(self) -> EndpointProcess:
        self.proc.start()
        deadline = time.monotonic() + 30
        while not self.proc.healthy():
            assert self.proc.alive() and time.monotonic() < deadline, self.proc.log_path.read_text()
            time.sleep(0.1)
        return self

    def kill(self) -> None:
        assert self.proc.pid is not None
        kill_group(self.proc.pid, signal.SIGKILL)
        assert self.proc.proc is not None
        self.proc.proc.wait(timeout=10)

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/local/stats", timeout=5) as resp:
            return dict(json.load(resp))

    def client(self) -> Any:
        config = Config(retries={"max_attempts": 1})
        return boto3.client("sagemaker-runtime", endpoint_url=self.url, config=config)


@pytest.fixture()
def rig(aws_env: MotoServer) -> Rig:
    return Rig()


@pytest.fixture()
def endpoints() -> Iterator[list[EndpointProcess]]:
    started: list[EndpointProcess] = []
    yield started
    for endpoint in started:
        endpoint.proc.stop(grace=2)


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_sigkilled_with_two_running_and_two_queued_every_request_ends_once(
    rig: Rig, tmp_path: Path, endpoints: list[EndpointProcess]
) -> None:
    with FakeWorker(delay=3.0) as worker:
        first = EndpointProcess(rig, worker.url, tmp_path, max_concurrency=2).start()
        endpoints.append(first)
        sources = {f"job-{i}": rig.put_input() for i in range(4)}
        for inference_id, source in sources.items():
            first.client().invoke_endpoint_async(
                EndpointName=ENDPOINT, InputLocation=source, InferenceId=inference_id
            )
        _wait(lambda: worker.active == 2, 20, "two requests at the worker")
        assert first.stats()["backlog"] == 2
        running = {call["headers"]["X-Amzn-SageMaker-Inference-Id"] for call in worker.calls}
        first.kill()

        second = EndpointProcess(rig, worker.url, tmp_path, max_concurrency=2)
        endpoints.append(second.start())

        failed = rig.notifications("error", 2)
        succeeded = rig.notifications("success", 2)
        assert {n["inferenceId"] for n in failed} == running
        assert {n["inferenceId"] for n in succeeded} == set(sources) - running
        for note in failed:  # each with its reason, also written to its failure location
            assert note["failureReason"] == RESTART_REASON
            location = note["responseParameters"]["failureLocation"]
            assert rig.read(location).decode() == RESTART_REASON
        # Nothing was sent to the model twice, and nothing more arrives.
        calls = [call["headers"]["X-Amzn-SageMaker-Inference-Id"] for call in worker.calls]
        assert sorted(calls) == sorted(sources)
        assert rig.notifications("error", 1, timeout=2) == [] and rig.notifications("success", 1, 1) == []
        stats = second.stats()
        assert stats["invocations_by_input"] == {source: 1 for source in sources.values()}
        assert stats["recovered"]["interrupted"] == 2
        assert (stats["completed"], stats["failed"], stats["backlog"]) == (2, 2, 0)
        assert stats["states"] == {"done": 4}


def test_ttl_counts_from_acceptance_across_a_restart(
    rig: Rig, tmp_path: Path, endpoints: list[EndpointProcess]
) -> None:
    """A request waiting for an absent model when the endpoint dies expires by its TTL after the
    restart, counted from when it was accepted, and is never sent to the model."""
    worker_port = free_port()
    first = EndpointProcess(rig, f"http://127.0.0.1:{worker_port}", tmp_path).start()
    endpoints.append(first)
    accepted = time.monotonic()
    first.client().invoke_endpoint_async(
        EndpointName=ENDPOINT, InputLocation=rig.put_input(), InferenceId="late", RequestTTLSeconds=60
    )
    _wait(lambda: first.stats()["worker_waits"] == 1, 10, "the request to wait for the model")
    first.kill()
    time.sleep(max(0.0, 61 - (time.monotonic() - accepted)))

    with FakeWorker(port=worker_port) as worker:  # the model is ready now, but too late
        second = EndpointProcess(rig, worker.url, tmp_path)
        endpoints.append(second.start())
        [note] = rig.notifications("error", 1)
        assert note["inferenceId"] == "late"
        assert "expired" in note["failureReason"] and "TTL of 60 s" in note["failureReason"]
        assert worker.calls == []
        stats = second.stats()
        assert (stats["expired"], stats["invocations"], stats["recovered"]["requeued"]) == (1, 0, 1)


def test_a_stopped_endpoint_keeps_a_waiting_request_queued(
    rig: Rig, tmp_path: Path, endpoints: list[EndpointProcess]
) -> None:
    """SIGTERM while a request waits for the model: it is neither failed nor lost, and runs once later."""
    worker_port = free_port()
    first = EndpointProcess(rig, f"http://127.0.0.1:{worker_port}", tmp_path).start()
    endpoints.append(first)
    source = rig.put_input()
    first.client().invoke_endpoint_async(EndpointName=ENDPOINT, InputLocation=source, InferenceId="w")
    _wait(lambda: first.stats()["worker_waits"] == 1, 10, "the request to wait for the model")
    first.proc.stop(grace=10)
    assert rig.notifications("error", 1, timeout=1) == []

    with FakeWorker(port=worker_port) as worker:
        second = EndpointProcess(rig, worker.url, tmp_path)
        endpoints.append(second.start())
        [note] = rig.notifications("success", 1)
        assert note["inferenceId"] == "w"
        assert len(worker.calls) == 1
        assert second.stats()["invocations_by_input"] == {source: 1}


def _request(rig: Rig, inference_id: str) -> AsyncRequest:
    return AsyncRequest(
        inference_id=inference_id,
        input_location=rig.put_input(),
        body=None,
        content_type="video/mp4",
        accept=None,
        custom_attributes=None,
        ttl=600,
        timeout=60,
        output_location=f"s3://{rig.bucket}/jobs/output/{inference_id}.out",
        failure_location=f"s3://{rig.bucket}/jobs/failure/{inference_id}-error.out",
    )


def test_recovery_settles_each_step_a_crash_can_leave(rig: Rig, tmp_path: Path) -> None:
    """Claimed: queued again. Invoking: failed with the reason. Answered: its stored outcome delivered."""
    path = tmp_path / "queue.sqlite3"
    crashed = RequestQueue(path)
    requests = {name: _request(rig, name) for name in ("claimed", "invoking", "answered", "queued")}
    for request in requests.values():
        crashed.put(request.request_id, request.record(), request.body, request.enqueued_at)
    for name in ("claimed", "invoking", "answered"):
        item = crashed.claim()
        assert item is not None and item.record["inference_id"] == name
    crashed.invoking(requests["invoking"].request_id)
    crashed.invoking(requests["answered"].request_id)
    answer = Outcome(status=COMPLETED, content_type="application/json", body=b'{"ok": true}')
    crashed.answered(requests["answered"].request_id, answer)
    # The process dies here: nothing is closed. A new endpoint opens the same file.

    with FakeWorker() as worker, LocalAsyncEndpoint(rig.config(worker.url, queue_path=str(path))) as endpoint:
        succeeded = {n["inferenceId"]: n for n in rig.notifications("success", 3)}
        [failed] = rig.notifications("error", 1)
        assert set(succeeded) == {"answered", "claimed", "queued"}
        assert failed["inferenceId"] == "invoking" and failed["failureReason"] == RESTART_REASON
        assert json.loads(rig.read(requests["answered"].output_location)) == {"ok": True}
        sent = sorted(call["headers"]["X-Amzn-SageMaker-Inference-Id"] for call in worker.calls)
        assert sent == ["claimed", "queued"]  # "answered" and "invoking" reached the model before
        stats = endpoint.stats()
        assert stats["recovered"] == {"requeued": 1, "interrupted": 1, "delivered": 1}
        assert stats["states"] == {"done": 4}


def test_each_stack_starts_with_an_empty_queue(tmp_path: Path) -> None:
    """The queue outlives the endpoint's restarts (the supervisor reuses its configuration), not the
    stack: a new stack has a new moto, where an older queue's requests could not be served."""
    from reelsight.local.supervisor import LocalOptions, Supervisor
    from tests.local.test_supervisor import ADDRESSES
    from tests.local.test_supervisor import ENDPOINT as ENDPOINT_PLAN

    stale = RequestQueue(tmp_path / "endpoint-queue.sqlite3")
    stale.put("old", {"inference_id": "old"}, b"x", time.time())
    stale.close()
    Supervisor(LocalOptions(state_dir=str(tmp_path))).build_async_endpoint(ENDPOINT_PLAN, ADDRESSES, 1)
    config = json.loads((tmp_path / "endpoint.json").read_text())
    assert config["queue_path"] == str(tmp_path / "endpoint-queue.sqlite3")
    assert RequestQueue(config["queue_path"]).counts()["received"] == 0
