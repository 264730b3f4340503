"""The HTTP layer before the model is loaded, served in-process by uvicorn on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from reelsight.params import RunOptions
from reelsight.worker import scratch
from reelsight.worker.config import ServeConfig
from reelsight.worker.server import WorkerState, create_app, public_message, uvicorn_config


@pytest.fixture()
def loading_server(tmp_path: Path) -> Iterator[str]:
    config = ServeConfig(port=0, model_dir=tmp_path, temp_root=tmp_path / "tmp")
    own = scratch.Scratch(config.temp_root)
    state = WorkerState(config, RunOptions(), weights_from_env=False, store=None, scratch_dir=own)
    server = uvicorn.Server(uvicorn_config(create_app(state), config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        own.close()


def test_not_ready_until_the_model_is_loaded(loading_server: str) -> None:
    assert httpx.get(f"{loading_server}/ping").status_code == 503
    answer = httpx.post(
        f"{loading_server}/invocations", content=b"video", headers={"Content-Type": "video/mp4"}
    )
    assert answer.status_code == 503
    assert answer.json()["error"]["type"] == "RequestError"
    assert "loading" in answer.json()["error"]["message"]
    metrics = httpx.get(f"{loading_server}/metrics").json()
    assert metrics["model_loaded"] is False and metrics["failed"] == 1


def test_unknown_paths_are_404_json(loading_server: str) -> None:
    for answer in (httpx.get(f"{loading_server}/nope"), httpx.post(f"{loading_server}/nope", content=b"x")):
        assert answer.status_code == 404
        assert "no such path" in answer.json()["error"]["message"]
    wrong = httpx.get(f"{loading_server}/invocations")
    assert wrong.status_code == 405 and "GET is not allowed" in wrong.json()["error"]["message"]


def test_public_messages_name_no_temporary_path(tmp_path: Path) -> None:
    body = tmp_path / "reelsight-serve-7-x" / "invocation-abc" / "input.mp4"
    said = public_message(f"[Errno 1094995529] Invalid data found when processing input: '{body}'", tmp_path)
    assert said == "[Errno 1094995529] Invalid data found when processing input: 'the request body'"
    other = public_message(f"cannot write {body.parent / 'out' / 'frames.jsonl'}: disk full", tmp_path)
    assert other == "cannot write a temporary file: disk full"
    assert public_message("fps must be > 0", tmp_path) == "fps must be > 0"
    said = public_message("input.mp4 is not a video file that can be read (Invalid data)", tmp_path)
    assert said == "the request body is not a video file that can be read (Invalid data)"
