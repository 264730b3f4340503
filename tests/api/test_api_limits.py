"""Bodies and connections on the real server: auth before any body, a size limit on every route,
a deadline for slow bodies, a bound on connections, and memory that a large unauthenticated
POST cannot raise."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import httpx
import psutil
import pytest

from reelsight.api.gate import DEFAULT_MAX_BODY_BYTES
from tests.api.raw_http import address, exchange, request_head
from tests.api.support import TOKEN, ApiResources, ApiServer

BEARER = {"Authorization": f"Bearer {TOKEN}"}
MIB = 1024 * 1024


def chunked(pieces: int, size: int) -> Iterator[bytes]:
    for _ in range(pieces):
        yield f"{size:x}\r\n".encode() + b"x" * size + b"\r\n"
    yield b"0\r\n\r\n"


@pytest.fixture(scope="module")
def limited_server(start_api: Callable[..., ApiServer]) -> ApiServer:
    """A server with a 1 s body deadline, so that a stalled body is answered quickly."""
    return start_api(REELSIGHT_API_BODY_TIMEOUT_SECONDS="1")


def test_unauthenticated_huge_declared_body_is_answered_at_once(
    api_server: ApiServer, api_aws: ApiResources
) -> None:
    """The reported case: Content-Length 200000000, then 1 byte. The answer is a 401 right after
    the headers, and the connection is closed: the body is never waited for."""
    head = request_head(
        "POST", "/v1/uploads", {"Content-Type": "application/json", "Content-Length": "200000000"}
    )
    answer = exchange(api_server.url, head, [b"{"], wait=5)
    assert answer.status == 401, answer.head
    assert answer.closed
    assert answer.seconds < 2
    assert "token" in answer.body.decode()


def test_declared_body_over_the_limit_is_413_even_with_the_token(
    api_server: ApiServer, api_aws: ApiResources
) -> None:
    headers = {**BEARER, "Content-Type": "application/json", "Content-Length": "200000000"}
    answer = exchange(api_server.url, request_head("POST", "/v1/uploads", headers), [b"{"], wait=5)
    assert answer.status == 413, answer.head
    assert answer.closed
    assert str(DEFAULT_MAX_BODY_BYTES) in answer.body.decode()
    # Every route has the limit, those without auth too.
    small = {"Content-Length": str(DEFAULT_MAX_BODY_BYTES + 1)}
    for target in ("/healthz", "/", "/static/rle.js"):
        assert exchange(api_server.url, request_head("POST", target, small), wait=5).status == 413


def test_chunked_body_over_the_limit_is_413(api_server: ApiServer, api_aws: ApiResources) -> None:
    """No Content-Length to refuse up front: the body is counted as it arrives."""
    headers = {**BEARER, "Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    head = request_head("POST", "/v1/uploads", headers)
    answer = exchange(api_server.url, head, chunked(pieces=64, size=16 * 1024), wait=5)
    assert answer.status == 413, answer.head
    assert answer.closed
    # A chunked body within the limit still reaches the route.
    body = b'{"filename": "clip.mp4"}'
    ok = exchange(api_server.url, head, [f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"], wait=2)
    assert ok.status == 200, ok.head + ok.body.decode()
    assert b'"method":"PUT"' in ok.body


def test_body_that_stops_arriving_gets_408(limited_server: ApiServer, api_aws: ApiResources) -> None:
    headers = {**BEARER, "Content-Type": "application/json", "Content-Length": "1000"}
    head = request_head("POST", "/v1/uploads", headers)
    answer = exchange(limited_server.url, head, [b'{"filename": '], wait=6, keep_open=3)
    assert answer.status == 408, answer.head
    assert answer.closed
    assert 0.8 < answer.seconds < 3
    assert "REELSIGHT_API_BODY_TIMEOUT_SECONDS" in answer.body.decode()
    # The server is not held: the next request is answered.
    assert httpx.get(f"{limited_server.url}/healthz", timeout=5).status_code == 200


def test_connections_are_bounded(start_api: Callable[..., ApiServer], api_aws: ApiResources) -> None:
    """Past REELSIGHT_API_MAX_CONNECTIONS open connections a request is answered 503 at once; the
    connections that send no request are closed after the header deadline, which frees the slots."""
    server = start_api(REELSIGHT_API_MAX_CONNECTIONS="4", REELSIGHT_API_HEADER_TIMEOUT_SECONDS="2")
    with ExitStack() as stack:
        idle = [
            stack.enter_context(socket.create_connection(address(server.url), timeout=5)) for _ in range(4)
        ]
        time.sleep(0.5)  # let the server accept them
        refused = httpx.get(f"{server.url}/healthz", timeout=5)
        assert refused.status_code == 503
        time.sleep(2.5)
        assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
        assert idle[0].recv(1024).startswith(b"HTTP/1.1 408 ")
        assert idle[0].recv(1024) == b""  # closed


def test_headers_that_stop_arriving_get_408(
    start_api: Callable[..., ApiServer], api_aws: ApiResources
) -> None:
    """A request line and half its headers, then nothing: 408 after the deadline, connection closed;
    the deadline starts again for each request on a kept-alive connection."""
    server = start_api(REELSIGHT_API_HEADER_TIMEOUT_SECONDS="1")
    partial = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    answer = exchange(server.url, partial, wait=5, keep_open=3)
    assert answer.status == 408, answer.head
    assert answer.closed
    assert 0.8 < answer.seconds < 3
    whole = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    again = exchange(server.url, whole, [partial], wait=5, keep_open=3)
    assert again.status == 200 and b"HTTP/1.1 408 " in again.body, again.body
    assert again.closed


@contextmanager
def peak_rss(pid: int) -> Iterator[dict[str, int]]:
    """The process's resident memory before the block and its highest sample (every 5 ms) during it."""
    process = psutil.Process(pid)
    figures = {"before": process.memory_info().rss, "peak": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            figures["peak"] = max(figures["peak"], process.memory_info().rss)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield figures
    finally:
        time.sleep(0.3)  # what the server does right after the answer counts too
        done.set()
        sampler.join()


def test_200_mib_unauthenticated_post_does_not_raise_memory(
    start_api: Callable[..., ApiServer], api_aws: ApiResources
) -> None:
    """200 MiB sent without a token to /v1/uploads: the server's peak RSS stays within 16 MiB of what
    it was (the finding: 75 MB -> 690 MB)."""
    server = start_api()
    for _ in range(3):  # warm up the routes the request goes through
        httpx.post(f"{server.url}/v1/uploads", json={"filename": "a.mp4"}, timeout=5)
    total = 200 * MIB
    head = request_head(
        "POST", "/v1/uploads", {"Content-Type": "application/json", "Content-Length": str(total)}
    )
    with peak_rss(server.process.pid) as figures:
        answer = exchange(server.url, head, (b"x" * MIB for _ in range(200)), wait=60)
    growth = figures["peak"] - figures["before"]
    print(f"API server RSS: {figures['before'] / MIB:.1f} MiB before, {figures['peak'] / MIB:.1f} MiB peak")
    assert answer.status == 401, answer.head
    assert growth < 16 * MIB, f"peak RSS rose by {growth / MIB:.1f} MiB"
