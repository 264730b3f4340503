"""Where the API's bearer token comes from: the environment, Secrets Manager or an SSM SecureString.

Shared by the API server (to check requests) and Processing jobs (to report progress); it needs only
boto3, so the worker image can use it without the API's web framework.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from reelsight import envvars
from reelsight.errors import ParamError

TOKEN_CACHE_SECONDS = 300.0
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
