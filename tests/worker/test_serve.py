"""``reelsight serve`` as a real child process on loopback, with artifacts going to a moto server."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import psutil
import pytest

from reelsight.contract.summary import SCHEMA_VERSION
from reelsight.testing.moto_server import MotoServer
from reelsight.testing.videos import (
    WrittenVideo,
    write_audio_only,
    write_empty,
    write_not_a_video,
    write_truncated,
    write_video,
)

from .conftest import ServeProcess, start_serve, temp_leftovers

BUCKET = "worker-artifacts"
TIMEOUT = httpx.Timeout(600.0, connect=10.0)


@dataclass
class Served:
    server: ServeProcess
    tmp: Path
    hold: Path
    s3: Any

    def post(self, path: Path, attributes: str = "", **headers: str) -> httpx.Response:
        headers = {"Content-Type": "video/mp4", **headers}
        if attributes:
            headers["X-Amzn-SageMaker-Custom-Attributes"] = attributes
        return httpx.post(
            f"{self.server.url}/invocations", content=path.read_bytes(), headers=headers, timeout=TIMEOUT
        )

    def tmp_is_empty(self) -> bool:
        assert temp_leftovers(self.tmp, self.server.proc.pid) == []
        return True


@pytest.fixture(scope="module")
def served(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    env = moto_server.client_env()
    s3 = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    s3.create_bucket(Bucket=BUCKET)
    base = tmp_path_factory.mktemp("serve")
    tmp = base / "tmp"
    tmp.mkdir()
    hold = base / "hold"
    server = start_serve(
        {
            **env,
            "TMPDIR": str(tmp),
            # torch keeps a process-wide compile cache under TMPDIR; it is not per-request state
            "TORCHINDUCTOR_CACHE_DIR": str(base / "inductor"),
            "REELSIGHT_ARTIFACT_BUCKET": BUCKET,
            "REELSIGHT_FPS": "1",
            "REELSIGHT_INCLUDE": "contact_sheet",
            "REELSIGHT_MAX_CONCURRENT_INVOCATIONS": "2",
            "REELSIGHT_MAX_BODY_BYTES": str(20 * 1024 * 1024),
            "REELSIGHT_DEBUG_HOLD_FILE": str(hold),
        },
        base / "serve.log",
    )
    try:
        yield Served(server, tmp, hold, s3)
    finally:
        hold.unlink(missing_ok=True)
        server.stop()


@pytest.fixture(scope="module")
def broken(videos_dir: Path, clip_5s: WrittenVideo) -> dict[str, Path]:
    return {
        "empty": write_empty(videos_dir / "empty.mp4"),
        "not_a_video": write_not_a_video(videos_dir / "text.mp4"),
        "audio_only": write_audio_only(videos_dir / "audio.m4a"),
        "truncated": write_truncated(clip_5s.path, videos_dir / "truncated.mp4", 0.5),
    }


def _keys(s3: Any, prefix: str) -> set[str]:
    listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return {o["Key"] for o in listing.get("Contents", [])}


def test_good_video_answers_the_summary_and_uploads_the_frames(served: Served, clip_5s: WrittenVideo) -> None:
    answer = served.post(clip_5s.path, "fps=2,end=2,job_id=t-good,video_uri=s3://in/clip5s.mp4")
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Reelsight-Job-Id"] == "t-good"
    summary = answer.json()  # the body is summary.json; the frames are in frames.jsonl only
    assert "frames" not in summary and "summary" not in summary
    assert summary["schema_version"] == SCHEMA_VERSION
    assert summary["status"] == "ok" and summary["frames_sampled"] == 4
    assert summary["model"]["name"] == "ssdlite" and summary["model"]["random_weights"] is True
    assert summary["params"]["sampling"]["fps"] == 2.0  # the custom attribute won over REELSIGHT_FPS=1
    assert summary["video"]["uri"] == "s3://in/clip5s.mp4"
    assert (summary["video"]["width"], summary["video"]["height"]) == (320, 240)
    assert summary["timings"]["inference"] > 0
    prefix = "jobs/t-good/artifacts/"
    assert summary["artifacts"]["frames"] == f"s3://{BUCKET}/{prefix}frames.jsonl"
    assert summary["artifacts"]["contact_sheet"] == f"s3://{BUCKET}/{prefix}contact_sheet.png"
    assert {prefix + n for n in ("frames.jsonl", "summary.json", "contact_sheet.png")} <= _keys(
        served.s3, prefix
    )
    stored = served.s3.get_object(Bucket=BUCKET, Key=prefix + "summary.json")["Body"].read()
    assert json.loads(stored) == summary
    lines = served.s3.get_object(Bucket=BUCKET, Key=prefix + "frames.jsonl")["Body"].read().splitlines()
    frames = [json.loads(line) for line in lines]
    assert len(frames) == 4
    assert [f["timestamp"] for f in frames] == pytest.approx([0.0, 0.5, 1.0, 1.5], abs=0.034)
    assert all(f["width"] == 320 and f["height"] == 240 and f["detections"] is not None for f in frames)
    assert served.tmp_is_empty()


def test_the_summary_names_the_video_by_its_real_key(served: Served, clip_5s: WrittenVideo) -> None:
    """The dispatcher's custom attributes for a key holding ``%20``, ``+`` and a space."""
    from lambdas.dispatch.routing import custom_attributes

    uri = "s3://in/incoming/c%20literal a+b.mp4"
    attributes = custom_attributes("t-uri", {"max_frames": "1"}, video_uri=uri)
    assert "c%2520literal%20a%2Bb.mp4" in attributes  # encoded to travel, decoded by the worker
    answer = served.post(clip_5s.path, attributes)
    assert answer.status_code == 200, answer.text
    assert answer.json()["video"]["uri"] == uri
    stored = served.s3.get_object(Bucket=BUCKET, Key="jobs/t-uri/artifacts/summary.json")["Body"].read()
    assert json.loads(stored)["video"]["uri"] == uri


def test_inference_id_names_the_job_and_chunked_bodies_work(served: Served, clip_5s: WrittenVideo) -> None:
    data = clip_5s.path.read_bytes()

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(data), 50_000):
            yield data[i : i + 50_000]

    answer = httpx.post(
        f"{served.server.url}/invocations",
        content=chunks(),  # no length known: httpx sends Transfer-Encoding: chunked
        headers={
            "Content-Type": "video/mp4",
            "X-Amzn-SageMaker-Inference-Id": "inf-123",
            "X-Amzn-SageMaker-Custom-Attributes": "max_frames=2",
        },
        timeout=TIMEOUT,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["frames_sampled"] == 2
    assert _keys(served.s3, "jobs/inf-123/artifacts/")
    assert served.tmp_is_empty()


@pytest.mark.parametrize(
    ("name", "status", "error_type"),
    [
        ("empty", 422, "VideoError"),
        ("not_a_video", 415, "UnsupportedMediaError"),
        ("audio_only", 422, "VideoError"),
    ],
)
def test_broken_videos_get_json_errors(
    served: Served, broken: dict[str, Path], name: str, status: int, error_type: str
) -> None:
    answer = served.post(broken[name])
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["type"] == error_type and error["message"]
    # No path of the worker's temporary directory reaches the client, only the log.
    assert str(served.tmp) not in answer.text and "invocation-" not in answer.text, answer.text
    assert "input." not in answer.text and "/tmp/" not in answer.text, answer.text
    assert served.tmp_is_empty()


def test_truncated_video_is_a_partial_result(served: Served, broken: dict[str, Path]) -> None:
    answer = served.post(broken["truncated"], "fps=1")
    assert answer.status_code == 200, answer.text
    summary = answer.json()
    assert summary["status"] == "partial" and summary["partial"] is True
    assert 0 < summary["frames_sampled"] < 5
    assert served.tmp_is_empty()


@pytest.mark.parametrize(
    ("headers", "status", "match"),
    [
        ({"X-Amzn-SageMaker-Custom-Attributes": "fps=fast"}, 400, "fps"),
        ({"X-Amzn-SageMaker-Custom-Attributes": "model=maskrcnn"}, 400, "one model per endpoint"),
        ({"X-Amzn-SageMaker-Custom-Attributes": "score_threshold=0.1"}, 400, "score_threshold"),
        ({"X-Amzn-SageMaker-Custom-Attributes": "colour=red"}, 400, "unknown parameter"),
        # Numeric extremes are refused with their range, never an internal error.
        ({"X-Amzn-SageMaker-Custom-Attributes": "fps=1e308"}, 400, "fps must be a number from 0.00001"),
        ({"X-Amzn-SageMaker-Custom-Attributes": "every_seconds=1e-308"}, 400, "from 0.001 to 100000 seconds"),
        ({"X-Amzn-SageMaker-Custom-Attributes": "end=nan"}, 400, "end must be a number from 0 to 10000000"),
        ({"X-Amzn-SageMaker-Custom-Attributes": "max_frames=" + "9" * 500}, 400, "from 1 to 10000000 frames"),
        ({"Content-Type": "application/json"}, 415, "application/json"),
    ],
)
def test_bad_requests_are_refused(
    served: Served, clip_5s: WrittenVideo, headers: dict[str, str], status: int, match: str
) -> None:
    answer = served.post(clip_5s.path, **{"Content-Type": "video/mp4", **headers})
    assert answer.status_code == status
    assert match in answer.json()["error"]["message"]
    assert served.tmp_is_empty()


def test_an_oversized_body_is_refused_before_it_is_read(served: Served) -> None:
    host, port = served.server.url.removeprefix("http://").split(":")
    declared = 21 * 1024 * 1024
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: video/mp4\r\n"
            + f"Content-Length: {declared}\r\n\r\n".encode()
            + b"\0" * 1000
        )
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(body)["error"]["type"] == "PayloadTooLarge"
    assert served.tmp_is_empty()


def test_a_client_gone_mid_upload_leaves_nothing_behind(served: Served) -> None:
    failed_before = served.server.metrics()["failed"]
    host, port = served.server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: video/mp4\r\n"
            b"Content-Length: 100000\r\n\r\n" + b"\0" * 1000
        )
    _wait_for(lambda: served.server.metrics()["failed"] > failed_before, timeout=60)
    assert served.tmp_is_empty()


def _wait_for(predicate: Any, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise TimeoutError("condition not reached")


def test_concurrency_is_bounded_and_extra_requests_wait(served: Served, clip_5s: WrittenVideo) -> None:
    served.hold.touch()  # every invocation now pauses before its model call
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def post(i: int) -> None:
        answer = served.post(clip_5s.path, f"max_frames=1,job_id=conc-{i}")
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(3)]
    try:
        for t in threads:
            t.start()
        _wait_for(
            lambda: served.server.metrics()["in_flight"] == 2 and served.server.metrics()["waiting"] == 1
        )
        time.sleep(0.5)  # held: nothing can finish or start meanwhile
        metrics = served.server.metrics()
        assert (metrics["in_flight"], metrics["waiting"]) == (2, 1)
        assert answers == []
    finally:
        served.hold.unlink(missing_ok=True)
        for t in threads:
            t.join(600)
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert served.server.metrics()["max_in_flight"] == 2
    assert served.tmp_is_empty()


def test_a_ten_minute_video_does_not_grow_memory(served: Served, videos_dir: Path) -> None:
    long_video = write_video(
        videos_dir / "ten_minutes.mp4", seconds=600, fps=10, width=160, height=120, gop=100
    )
    # Warm-up on the same video: full batches, so the model's working memory is already there.
    assert served.post(long_video.path, "every_seconds=20,max_frames=8").status_code == 200
    child = psutil.Process(served.server.proc.pid)
    baseline = child.memory_info().rss
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, child.memory_info().rss)
            time.sleep(0.1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        answer = served.post(long_video.path, "every_seconds=20")
    finally:
        done.set()
        sampler.join()
    assert answer.status_code == 200, answer.text
    summary = answer.json()
    assert summary["frames_sampled"] == 30 and summary["video"]["duration"] == pytest.approx(600, abs=1)
    # About 50 MB of working memory was measured here; holding the decoded video in memory
    # (6000 frames of 57.6 kB = 345 MB) would break the bound.
    growth_mb = (peak - baseline) / 2**20
    assert growth_mb < 200, f"RSS grew by {growth_mb:.0f} MB while serving a 10-minute video"
    assert served.tmp_is_empty()
