"""What every request passes before the app sees it (a pure ASGI middleware).

In this order, each from the request line and headers alone:

1. a credential in the URL (``?token=``, ``?access_token=``, ...) is refused (400): it would already
   be in proxies' and browsers' histories, and the API never takes one there;
2. ``/v1`` checks the bearer token or the session cookie (401, 429, 503);
3. a declared body (``Content-Length``) over the limit is refused (413).

Only then is a body read: at most the limit (413 past it, also for chunked bodies), within the
body timeout (408 when it has not all arrived), and handed to the app from memory. Every refusal
closes the connection, so the rest of an unwanted body is never waited for.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reelsight import envvars

CREDENTIAL_PARAMETERS = frozenset({"token", "access_token", "api_token", "api_key", "apikey", "session"})
DEFAULT_MAX_BODY_BYTES = 64 * 1024
DEFAULT_BODY_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Refusal:
    """An answer given instead of the app's."""

    status: int
    detail: str
    headers: dict[str, str] = field(default_factory=dict)

    async def send(self, send: Send) -> None:
        body = json.dumps({"detail": self.detail}).encode("utf-8")
        headers = {
            "content-type": "application/json",
            "content-length": str(len(body)),
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
            "cache-control": "no-store",
            "connection": "close",
            **{name.lower(): value for name, value in self.headers.items()},
        }
        raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
        await send({"type": "http.response.start", "status": self.status, "headers": raw})
        await send({"type": "http.response.body", "body": body, "more_body": False})


Check = Callable[[Scope, Headers], Awaitable[Refusal | None]]


@dataclass(frozen=True)
class BodyLimits:
    max_bytes: int = DEFAULT_MAX_BODY_BYTES
    timeout_seconds: float = DEFAULT_BODY_TIMEOUT_SECONDS


def credential_in_url(scope: Scope) -> Refusal | None:
    query = scope.get("query_string", b"").decode("latin-1")
    names = {name.strip().lower() for name, _ in parse_qsl(query, keep_blank_values=True)}
    found = sorted(names & CREDENTIAL_PARAMETERS)
    if not found:
        return None
    return Refusal(
        400,
        f"the API never takes a credential in the URL (got {', '.join(found)}=...): send "
        "'Authorization: Bearer <token>', or sign in to the viewer with its form",
    )


def declared_too_large(headers: Headers, limits: BodyLimits) -> Refusal | None:
    length = headers.get("content-length", "").strip()
    if length.isdigit() and int(length) > limits.max_bytes:
        return too_large(limits)
    return None


def too_large(limits: BodyLimits) -> Refusal:
    return Refusal(
        413,
        f"the request body is larger than {limits.max_bytes} bytes ({envvars.API_MAX_BODY_BYTES})",
    )


def has_body(headers: Headers) -> bool:
    return "transfer-encoding" in headers or headers.get("content-length", "0").strip() not in ("", "0")


async def read_body(receive: Receive, limits: BodyLimits) -> bytes | Refusal | None:
    """The whole body, a refusal (413, 408), or None when the client went away."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limits.timeout_seconds
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
        except TimeoutError:
            return Refusal(
                408,
                f"the request body did not arrive within {limits.timeout_seconds:g} s "
                f"({envvars.API_BODY_TIMEOUT_SECONDS})",
            )
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limits.max_bytes:
            return too_large(limits)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands out ``body`` once, then waits on the connection (for its disconnect)."""
    given = False

    async def replayed() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


class RequestGate:
    """Refuses what must not reach the app before any body is read; see the module's docstring."""

    def __init__(self, app: ASGIApp, *, check: Check, limits: BodyLimits) -> None:
        self.app = app
        self.check = check
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = credential_in_url(scope) or await self.check(scope, headers)
        refusal = refusal or declared_too_large(headers, self.limits)
        if refusal is not None:
            await refusal.send(send)
            return
        if has_body(headers):
            body = await read_body(receive, self.limits)
            if body is None:
                return
            if isinstance(body, Refusal):
                await body.send(send)
                return
            receive = replay(body, receive)
        await self.app(scope, receive, send)
