"""Bearer-token auth for the API: where the token comes from, how it is checked, how guessing is slowed.

The token is read from the environment locally, or from Secrets Manager / an SSM SecureString in AWS.
It is cached for a few minutes so that a rotated secret is picked up without a restart.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import deque

from reelsight import envvars
from reelsight.api_token import (  # noqa: F401  (re-exported for the app)
    MIN_TOKEN_LENGTH,
    TOKEN_CACHE_SECONDS,
    TokenSource,
    token_source_from_env,
)
from reelsight.errors import ParamError

DEFAULT_FAILURES_PER_MINUTE = 10


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
