"""The HTTP layer before the model is loaded, served in-process on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reelsight.params import RunOptions
from reelsight.worker.config import ServeConfig
from reelsight.worker.server import WorkerServer, WorkerState


@pytest.fixture()
def loading_server(tmp_path: Path) -> Iterator[str]:
    state = WorkerState(
        ServeConfig(port=0, model_dir=tmp_path), RunOptions(), weights_from_env=False, store=None
    )
    server = WorkerServer(("127.0.0.1", 0), state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


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
