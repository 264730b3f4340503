"""``reelsight serve`` against clients that stall, lie about their body, or send too much.

The worker runs as a child process on loopback; the clients speak raw HTTP over sockets, so
each one can stop or misbehave at the exact byte the test needs.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from reelsight.testing.videos import WrittenVideo

from .conftest import ServeProcess, start_serve, temp_leftovers

READ_TIMEOUT = 8.0
MAX_BODY = 1024 * 1024
HEAD = b"POST /invocations HTTP/1.1\r\nHost: worker\r\nContent-Type: video/mp4\r\n"


@dataclass
class Answer:
    status: int
    head: str
    body: bytes

    def error(self) -> dict[str, str]:
        error: dict[str, str] = json.loads(self.body)["error"]
        return error


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    base = tmp_path_factory.mktemp("limits")
    (base / "tmp").mkdir()
    server = start_serve(
        {
            "TMPDIR": str(base / "tmp"),
            "REELSIGHT_MAX_CONCURRENT_INVOCATIONS": "2",
            "REELSIGHT_READ_TIMEOUT_SECONDS": str(READ_TIMEOUT),
            "REELSIGHT_MAX_BODY_BYTES": str(MAX_BODY),
        },
        base / "serve.log",
    )
    try:
        yield server
    finally:
        server.stop()


def _connect(server: ServeProcess) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=60)


def _read_answer(sock: socket.socket, timeout: float = 60.0) -> Answer:
    """Everything the worker sends until it closes the connection (it closes after every error)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        if not data:
            raise  # a reset after the answer is the close of a connection with unread bytes
    head, _, body = data.partition(b"\r\n\r\n")
    return Answer(int(head.split(b" ", 2)[1]), head.decode("latin-1"), body)


def _nothing_received(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""  # b"": closed, which counts as an answer
    except BlockingIOError:
        return True
    finally:
        sock.setblocking(True)


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def test_stalled_clients_hold_no_slot_and_get_408(worker: ServeProcess, clip_5s: WrittenVideo) -> None:
    failed_before = worker.metrics()["failed"]
    stalled = [_connect(worker) for _ in range(2)]  # as many as there are slots
    for sock in stalled:
        sock.sendall(HEAD + b"Content-Length: 100000\r\n\r\n" + b"\0" * 1000)  # then nothing more
    started = time.monotonic()
    try:
        answer = httpx.post(
            f"{worker.url}/invocations",
            content=clip_5s.path.read_bytes(),
            headers={"Content-Type": "video/mp4", "X-Amzn-SageMaker-Custom-Attributes": "max_frames=1"},
            timeout=120,
        )
        served_after = time.monotonic() - started
        assert answer.status_code == 200, answer.text
        # The third request did not wait for the stalled ones: they are not even answered yet.
        assert served_after < READ_TIMEOUT and all(_nothing_received(s) for s in stalled), served_after
        answers = [_read_answer(s, timeout=READ_TIMEOUT + 30) for s in stalled]
    finally:
        for sock in stalled:
            sock.close()
    waited = time.monotonic() - started
    assert [a.status for a in answers] == [408, 408]
    assert all(a.error()["type"] == "RequestTimeout" for a in answers)
    assert "no byte of the body arrived for 8 s" in answers[0].error()["message"]
    assert READ_TIMEOUT - 1 < waited < READ_TIMEOUT + 30
    metrics = worker.metrics()
    assert metrics["receiving"] == 0 and metrics["in_flight"] == 0
    assert metrics["failed"] == failed_before + 2


def test_a_client_that_never_finishes_its_head_gets_408(worker: ServeProcess) -> None:
    with _connect(worker) as sock:
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: worker\r\n")  # no blank line: the head goes on
        started = time.monotonic()
        answer = _read_answer(sock, timeout=READ_TIMEOUT + 30)
    assert answer.status == 408 and "request head" in answer.error()["message"]
    assert READ_TIMEOUT - 1 < time.monotonic() - started < READ_TIMEOUT + 30
    assert httpx.get(f"{worker.url}/ping", timeout=10).status_code == 200


# A negative size once undid the count of the chunk before it, so a body of any size got past the
# limit. The client stops after it: what it would send next cannot change the answer.
UNDOING = _chunk(b"\0" * 65536) + b"-10000\r\n\r\n"


@pytest.mark.parametrize(
    "body",
    [
        UNDOING,
        _chunk(b"\0" * 1000) + b"-5\r\n" + b"\0" * 5000,
        b"zz\r\n" + b"\0" * 100,
        b"5 5\r\n\0\0\0\0\0\r\n",
    ],
    ids=["negative-undoes-the-count", "negative", "not-hex", "two-numbers"],
)
def test_a_malformed_chunk_size_is_refused_with_400(worker: ServeProcess, body: bytes) -> None:
    failed_before = worker.metrics()["failed"]
    with _connect(worker) as sock:
        sock.sendall(HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + body)
        answer = _read_answer(sock)
    assert answer.status == 400, answer
    assert "Invalid HTTP request" in answer.body.decode()  # h11's verdict, as uvicorn words it
    _wait_for(lambda: worker.metrics()["failed"] > failed_before)  # the invocation ended, its file is gone
    assert worker.metrics()["receiving"] == 0


def test_a_chunked_body_over_the_limit_gets_413_before_it_is_all_sent(worker: ServeProcess) -> None:
    piece = b"\0" * 65536
    with _connect(worker) as sock:
        sock.sendall(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
        sent = 0
        while sent <= MAX_BODY:  # one piece past the limit, and the body has no end yet
            sock.sendall(_chunk(piece))
            sent += len(piece)
        answer = _read_answer(sock)
    assert answer.status == 413
    assert answer.error() == {
        "type": "PayloadTooLarge",
        "message": f"the body exceeds {MAX_BODY} bytes, the most this worker accepts",
    }


def test_a_body_declared_over_the_limit_is_refused_before_it_is_read(worker: ServeProcess) -> None:
    with _connect(worker) as sock:
        sock.sendall(HEAD + f"Content-Length: {MAX_BODY + 1}\r\n\r\n".encode())
        answer = _read_answer(sock)
    assert answer.status == 413 and answer.error()["type"] == "PayloadTooLarge"


def test_other_requests_are_served_while_bodies_trickle_in(worker: ServeProcess) -> None:
    """A slow body (a byte every second, under the read timeout) blocks neither /ping nor the loop."""
    done = threading.Event()

    def trickle() -> None:
        with _connect(worker) as sock:
            sock.sendall(HEAD + b"Content-Length: 100000\r\n\r\n")
            while not done.wait(1.0):
                sock.sendall(b"\0")

    thread = threading.Thread(target=trickle)
    thread.start()
    try:
        time.sleep(1.5)
        pings = [httpx.get(f"{worker.url}/ping", timeout=5) for _ in range(5)]
        assert [p.status_code for p in pings] == [200] * 5
        assert worker.metrics()["receiving"] == 1
    finally:
        done.set()
        thread.join(30)


def _wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise TimeoutError("condition not reached")


def test_nothing_is_left_in_the_temp_root(worker: ServeProcess) -> None:
    # The previous tests' clients may have just gone: their bodies' directories go once the
    # server has seen the close.
    temp_root = worker.log_path.parent / "tmp"
    _wait_for(lambda: worker.metrics()["receiving"] == 0 and worker.metrics()["in_flight"] == 0)
    with contextlib.suppress(TimeoutError):
        _wait_for(lambda: temp_leftovers(temp_root, worker.proc.pid) == [], timeout=5)
    assert temp_leftovers(temp_root, worker.proc.pid) == []
