"""HTTP/1.1 over a plain socket, for what an HTTP client library will not send: a body that stops
short of its Content-Length, or one far larger than the server should ever read."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class RawAnswer:
    status: int | None  # None: no answer at all
    head: str
    body: bytes
    closed: bool  # the server closed the connection
    seconds: float  # from the first byte sent to the answer's start (or the end of waiting)

    def header(self, name: str) -> str | None:
        for line in self.head.split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname and parts.port
    return parts.hostname, parts.port


def request_head(method: str, target: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def exchange(
    url: str,
    head: bytes,
    chunks: Iterable[bytes] = (),
    *,
    wait: float = 10.0,
    keep_open: float = 0.0,
) -> RawAnswer:
    """Send ``head`` and then ``chunks`` (stopping when the server stops taking them) while a reader
    thread collects the answer; then wait up to ``wait`` seconds for it to complete or the server to
    close. ``keep_open``: seconds to stall after the chunks, with the connection open."""
    sock = socket.create_connection(address(url), timeout=wait)
    received = bytearray()
    state = {"closed": False, "first": 0.0}
    reader = threading.Thread(target=_read, args=(sock, received, state, wait + keep_open), daemon=True)
    start = time.monotonic()
    reader.start()
    try:
        sock.sendall(head)
        for chunk in chunks:
            sock.sendall(chunk)
        if keep_open:
            reader.join(keep_open)  # stalls until the server answers and closes, at most keep_open
    except OSError:  # the server answered and closed: the rest is not wanted
        pass
    reader.join(wait + keep_open + 1)
    sock.close()
    return _answer(bytes(received), state, start)


def _read(sock: socket.socket, received: bytearray, state: dict, wait: float) -> None:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            state["closed"] = True
            return
        if not data:
            state["closed"] = True
            return
        if not received:
            state["first"] = time.monotonic()
        received.extend(data)


def _answer(raw: bytes, state: dict, start: float) -> RawAnswer:
    head, _, body = raw.partition(b"\r\n\r\n")
    text = head.decode("latin-1")
    status = int(text.split(" ", 2)[1]) if text.startswith("HTTP/") else None
    seconds = (state["first"] or time.monotonic()) - start
    return RawAnswer(status=status, head=text, body=body, closed=bool(state["closed"]), seconds=seconds)
