"""A deadline for each request head, which uvicorn lacks: its h11 protocol with a timer added.

uvicorn bounds the idle time between requests (``timeout_keep_alive``) but gives a client all the
time it likes to send a request's headers, so connections that trickle (or send nothing) could pile
up. ``head_deadline_protocol`` returns uvicorn's own h11 protocol class with a timer: a connection
whose request head is not complete ``seconds`` after it opened (or after the previous answer) gets
``answer`` (a complete 408 response) and is closed. Both servers (the worker and the API) use it.

It hooks uvicorn's ``connection_made``, ``data_received``, ``on_response_complete`` and
``connection_lost``, and reads ``conn`` (the h11 connection), ``loop`` and ``transport``: re-check
them when the uvicorn pin moves.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


def timeout_answer(body: bytes, content_type: str = "application/json") -> bytes:
    """A whole ``408 Request Timeout`` response that closes the connection."""
    head = (
        f"HTTP/1.1 408 Request Timeout\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def head_deadline_protocol(seconds: float, answer: bytes) -> type[H11Protocol]:
    """uvicorn's h11 protocol; a request head not complete within ``seconds`` gets ``answer``."""

    class HeadDeadlineProtocol(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)  # type: ignore[arg-type]
            self._arm_head_timer()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._cancel_head_timer()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                self._arm_head_timer()  # for the next request on this connection

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_head_timer()
            super().connection_lost(exc)

        def _arm_head_timer(self) -> None:
            self._cancel_head_timer()
            self._head_timer = self.loop.call_later(seconds, self._head_timed_out)

        def _cancel_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.write(answer)  # h11 cannot answer a request it has not seen
                self.transport.close()

    return HeadDeadlineProtocol
