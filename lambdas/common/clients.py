"""boto3 clients, created lazily and replaceable in tests.

boto3 reads per-service endpoints itself (``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_S3``, ...),
which is how the local stack and the tests point these clients at a moto server.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

_RETRIES = Config(retries={"mode": "standard", "max_attempts": 3})


@dataclass
class Clients:
    """One set of AWS clients. Pass explicit clients to override any of them (tests)."""

    session: Any = None
    overrides: dict[str, Any] = field(default_factory=dict)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def client(self, service: str) -> Any:
        if service in self.overrides:
            return self.overrides[service]
        with self._lock:
            if service not in self._cache:
                session = self.session or boto3.session.Session()
                self._cache[service] = session.client(service, config=_RETRIES)
            return self._cache[service]

    @property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    @property
    def sns(self) -> Any:
        return self.client("sns")

    @property
    def sagemaker(self) -> Any:
        return self.client("sagemaker")

    @property
    def sagemaker_runtime(self) -> Any:
        return self.client("sagemaker-runtime")


_default: Clients | None = None


def get_clients() -> Clients:
    """The module-level default, created on first use (once per Lambda execution environment)."""
    global _default
    if _default is None:
        _default = Clients()
    return _default


def set_clients(clients: Clients | None) -> None:
    """Replace the default clients (tests); ``None`` makes the next call create fresh ones."""
    global _default
    _default = clients
