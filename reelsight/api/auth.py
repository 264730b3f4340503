"""Auth for the API: where the token comes from, how a request is checked, how guessing is slowed.

The token is read from the environment locally, or from Secrets Manager / an SSM SecureString in AWS.
It is cached for a few minutes so that a rotated secret is picked up without a restart. A request to
``/v1`` carries it as ``Authorization: Bearer``, or (the viewer, reading) a session cookie that
``POST /v1/login`` issued for it (``reelsight.api.sessions``).
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.cookies import SimpleCookie

from botocore.exceptions import BotoCoreError, ClientError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import Scope

from reelsight import envvars
from reelsight.api.gate import Refusal
from reelsight.api.sessions import SESSION_COOKIE, SessionStore
from reelsight.api_token import (  # noqa: F401  (re-exported for the app)
    MIN_TOKEN_LENGTH,
    TOKEN_CACHE_SECONDS,
    TokenSource,
    token_source_from_env,
)
from reelsight.errors import ParamError, ReelsightError

DEFAULT_FAILURES_PER_MINUTE = 10
REALM = 'Bearer realm="reelsight"'
LOGIN_PATH = "/v1/login"
LOGOUT_PATH = "/v1/logout"
# The session cookie is taken for reading only (and for logging out): a cross-site form cannot
# post with it even where SameSite is not enforced.
COOKIE_METHODS = frozenset({"GET", "HEAD"})
AUTH_STATE = "reelsight_auth"


def tokens_match(presented: str, expected: str) -> bool:
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


class FailureLimiter:
    """Counts failed attempts per client address in a sliding window of ``window`` seconds.

    An address with ``limit`` failures inside the window is refused until the oldest one ages out.
    """

    MAX_TRACKED_ADDRESSES = 10_000

    def __init__(self, limit: int = DEFAULT_FAILURES_PER_MINUTE, window: float = 60.0):
        if limit < 1:
            raise ParamError(f"{envvars.API_AUTH_FAILURES_PER_MINUTE} must be at least 1, got {limit}")
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _prune(self, address: str, now: float) -> deque[float]:
        times = self._failures.get(address, deque())
        while times and now - times[0] >= self.window:
            times.popleft()
        return times

    def retry_after(self, address: str) -> int:
        """Seconds until ``address`` may try again; 0 when it is not blocked."""
        with self._lock:
            now = time.monotonic()
            times = self._prune(address, now)
            if len(times) < self.limit:
                return 0
            return max(1, int(self.window - (now - times[0])) + 1)

    def record_failure(self, address: str) -> None:
        with self._lock:
            now = time.monotonic()
            times = self._prune(address, now)
            if address not in self._failures and len(self._failures) >= self.MAX_TRACKED_ADDRESSES:
                self._forget_idle(now)
            times.append(now)
            self._failures[address] = times

    def _forget_idle(self, now: float) -> None:
        for address in list(self._failures):
            if not self._prune(address, now):
                del self._failures[address]
        if len(self._failures) >= self.MAX_TRACKED_ADDRESSES:  # still full: drop the oldest entries
            for address in sorted(self._failures, key=lambda a: self._failures[a][-1])[
                : self.MAX_TRACKED_ADDRESSES // 10
            ]:
                del self._failures[address]


@dataclass(frozen=True)
class Grant:
    """How a request proved itself: ``bearer`` or ``session`` (then its id)."""

    kind: str
    session_id: str | None = None


def needs_auth(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")


def session_cookie(headers: Headers) -> str | None:
    raw = headers.get("cookie")
    if not raw:
        return None
    cookie: SimpleCookie = SimpleCookie()
    try:
        cookie.load(raw)
    except Exception:  # a malformed Cookie header is no session
        return None
    morsel = cookie.get(SESSION_COOKIE)
    return morsel.value if morsel is not None and morsel.value else None


def cookie_accepted(method: str, path: str) -> bool:
    return method in COOKIE_METHODS or (method == "POST" and path == LOGOUT_PATH)


def unauthorized(detail: str, error: str | None = None) -> Refusal:
    challenge = f'{REALM}, error="{error}"' if error else REALM
    return Refusal(401, detail, {"WWW-Authenticate": challenge})


class Authenticator:
    """The gate's check of ``/v1`` requests; the grant goes into the scope's state."""

    def __init__(self, tokens: TokenSource, limiter: FailureLimiter, sessions: SessionStore) -> None:
        self.tokens = tokens
        self.limiter = limiter
        self.sessions = sessions

    async def __call__(self, scope: Scope, headers: Headers) -> Refusal | None:
        path = scope.get("path", "")
        if not needs_auth(path):
            return None
        client = scope.get("client")
        address = client[0] if client else "unknown"
        wait = self.limiter.retry_after(address)
        if wait:
            return Refusal(429, "too many failed attempts; try again later", {"Retry-After": str(wait)})
        outcome = await self._grant(scope, headers, address)
        if isinstance(outcome, Refusal):
            return outcome
        scope.setdefault("state", {})[AUTH_STATE] = outcome
        return None

    async def _grant(self, scope: Scope, headers: Headers, address: str) -> Grant | Refusal:
        authorization = headers.get("authorization")
        session_id = session_cookie(headers)
        if authorization is None and session_id and cookie_accepted(scope["method"], scope["path"]):
            token = await self._token()
            if isinstance(token, Refusal):
                return token
            if self.sessions.valid(session_id, token):
                return Grant("session", session_id)
            return unauthorized("the session has ended or expired; sign in again", "invalid_token")
        presented = bearer_token(authorization)
        if presented is None:
            return unauthorized("missing bearer token")
        token = await self._token()
        if isinstance(token, Refusal):
            return token
        if not tokens_match(presented, token):
            self.limiter.record_failure(address)
            return unauthorized("wrong bearer token", "invalid_token")
        return Grant("bearer")

    async def _token(self) -> str | Refusal:
        try:
            return await run_in_threadpool(self.tokens.get)
        except (ClientError, BotoCoreError, ReelsightError) as exc:
            return Refusal(503, f"the API token cannot be read: {exc}")
