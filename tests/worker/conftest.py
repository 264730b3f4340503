"""Fixtures of the worker tests: a ``reelsight serve`` child process and small HTTP helpers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from reelsight.testing.moto_server import free_port

# A small, fast model with explicit random weights: the tests check the contract, not accuracy.
FAST_MODEL_ENV = {
    "REELSIGHT_MODEL": "ssdlite",
    "REELSIGHT_WEIGHTS": "random",
    "REELSIGHT_DEVICE": "cpu",
    "REELSIGHT_BATCH_SIZE": "4",
    "OMP_NUM_THREADS": "2",
}


def child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELSIGHT_")}
    env.update(FAST_MODEL_ENV)
    env.update(extra)
    return env


@dataclass
class ServeProcess:
    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def metrics(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/metrics", timeout=10).json()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_serve(env: dict[str, str], log_path: Path, *, timeout: float = 180.0) -> ServeProcess:
    """Start ``reelsight serve`` on a free loopback port and wait for ``/ping`` to answer 200."""
    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reelsight", "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=child_env(env),
        )
    server = ServeProcess(proc, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"reelsight serve exited with {proc.returncode}:\n{server.log()[-3000:]}")
        try:
            if httpx.get(f"{server.url}/ping", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.stop()
    raise TimeoutError(f"reelsight serve did not become ready:\n{server.log()[-3000:]}")


def temp_leftovers(temp_root: Path, pid: int) -> list[str]:
    """What a running worker has under its temp root besides its own directory, its lock and
    process-wide caches (torch's compile cache): left-over invocations and model archives."""
    left = []
    for path in temp_root.iterdir():
        if not path.name.startswith(f"reelsight-serve-{pid}-"):
            left.append(path.name)
            continue
        left += [
            f"{path.name}/{p.name}"
            for p in path.iterdir()
            if p.name.startswith(("invocation-", "reelsight-"))
        ]
    return sorted(left)


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class RecordingServer:
    """A loopback HTTP server that records POSTs (stands in for the reelsight API)."""

    status: int = 200
    requests: list[Recorded] = field(default_factory=list)
    url: str = ""

    def posts_for(self, video: str) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.body.get("video") == video]


@pytest.fixture()
def recording_server() -> Iterator[RecordingServer]:
    record = RecordingServer()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            with lock:
                record.requests.append(Recorded(self.path, dict(self.headers), body))
            self.send_response(record.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    record.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()
