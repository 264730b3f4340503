"""Bearer-token auth for the API: where the token comes from, how it is checked, how guessing is slowed.

The token is read from the environment locally, or from Secrets Manager / an SSM SecureString in AWS.
It is cached for a few minutes so that a rotated secret is picked up without a restart.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from reelsight import envvars
from reelsight.errors import ParamError

TOKEN_CACHE_SECONDS = 300.0
DEFAULT_FAILURES_PER_MINUTE = 10
MIN_TOKEN_LENGTH = 16


class TokenSource:
    """Returns the current API token; ``fetch`` does the (possibly remote) read."""

    def __init__(
        self, fetch: Callable[[], str], *, describe: str, cache_seconds: float = TOKEN_CACHE_SECONDS
    ):
        self._fetch = fetch
        self._cache_seconds = cache_seconds
        self._value: str | None = None
        self._fetched_at = 0.0
        self._lock = threading.Lock()
        self.describe = describe

    def get(self) -> str:
        with self._lock:
            now = time.monotonic()
            if self._value is None or now - self._fetched_at > self._cache_seconds:
                value = self._fetch().strip()
                if len(value) < MIN_TOKEN_LENGTH:
                    raise ParamError(
                        f"the API token from {self.describe} is shorter than {MIN_TOKEN_LENGTH} characters"
                    )
                self._value, self._fetched_at = value, now
            return self._value


def _token_from_secret_string(secret: str) -> str:
    """A secret may hold the bare token or a JSON object with a ``token`` key."""
    text = secret.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text).get("token")
        except (ValueError, AttributeError):
            value = None
        if not isinstance(value, str):
            raise ParamError('the API token secret is JSON but has no string "token" key')
        return value
    return text


def token_source_from_env(environ: Mapping[str, str], session: Any | None = None) -> TokenSource:
    """Pick the token source: REELSIGHT_API_TOKEN, else the secret ARN, else the SSM parameter."""
    direct = environ.get(envvars.API_TOKEN)
    if direct:
        return TokenSource(lambda: direct, describe=envvars.API_TOKEN, cache_seconds=float("inf"))
    secret_arn = environ.get(envvars.API_TOKEN_SECRET_ARN)
    parameter = environ.get(envvars.API_TOKEN_PARAMETER)
    if not secret_arn and not parameter:
        raise ParamError(
            f"no API token configured: set {envvars.API_TOKEN}, {envvars.API_TOKEN_SECRET_ARN} "
            f"or {envvars.API_TOKEN_PARAMETER}"
        )
    if session is None:
        import boto3

        session = boto3.session.Session()
    if secret_arn:
        client = session.client("secretsmanager")

        def fetch_secret() -> str:
            return _token_from_secret_string(client.get_secret_value(SecretId=secret_arn)["SecretString"])

        return TokenSource(fetch_secret, describe=secret_arn)
    ssm = session.client("ssm")

    def fetch_parameter() -> str:
        return str(ssm.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"])

    return TokenSource(fetch_parameter, describe=str(parameter))


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
