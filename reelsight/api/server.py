"""How uvicorn runs the API: connection bounds, deadlines, and an access log without credentials.

uvicorn bounds the connections (``limit_concurrency``: 503 past it), the listen backlog and the idle
time between requests (``timeout_keep_alive``), but it gives a client all the time it likes to send
a request's headers, so a connection that sends nothing would hold a slot forever.
``header_deadline_protocol`` (``reelsight.http_deadline``) adds that deadline: the headers of
each request must be complete within ``header_timeout`` seconds of the connection opening (or of
the previous answer), else the client gets a 408 and the connection is closed. The body has its own
deadline, in the request gate (``reelsight.api.gate``).

The access log keeps the method, path and status of each request, but never a query value: each
``name=value`` of the query string is logged as ``name=***`` when the API defines ``name``, and as
``***`` otherwise (a client may put anything there, a token or a presigned URL's signature
included).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from reelsight import envvars
from reelsight.contract.settings import env_int, env_seconds
from reelsight.http_deadline import head_deadline_protocol, timeout_answer

DEFAULT_MAX_CONNECTIONS = 100
DEFAULT_BACKLOG = 128
DEFAULT_KEEP_ALIVE_SECONDS = 5
DEFAULT_HEADER_TIMEOUT_SECONDS = 10.0
KNOWN_QUERY_PARAMETERS = frozenset({"limit", "next", "status", "since", "until"})
REDACTED = "***"


def redact_target(target: str) -> str:
    """``/v1/jobs?limit=5&token=x`` -> ``/v1/jobs?limit=***&***``."""
    path, mark, query = target.partition("?")
    if not mark:
        return target
    pairs = []
    for pair in query.split("&"):
        name, _, _ = pair.partition("=")
        pairs.append(f"{name}={REDACTED}" if name in KNOWN_QUERY_PARAMETERS else REDACTED)
    return f"{path}?{'&'.join(pairs)}"


class RedactQueryFilter(logging.Filter):
    """Rewrites the request target in uvicorn's access records (and any ``?`` argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_target(arg) if isinstance(arg, str) and "?" in arg else arg for arg in record.args
            )
        if isinstance(record.msg, str) and "?" in record.msg and not record.args:
            record.msg = redact_target(record.msg)
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's own logging setup, with the redacting filter on the access handler."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_query"] = {"()": f"{__name__}.RedactQueryFilter"}
    config["handlers"]["access"]["filters"] = ["redact_query"]
    return config


def header_deadline_protocol(seconds: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol; headers not complete within ``seconds`` get a 408 and the close."""
    return head_deadline_protocol(seconds, timeout_answer(b"", content_type="text/plain"))


@dataclass(frozen=True)
class ServerOptions:
    """uvicorn's bounds on connections (over ``max_connections`` at once: 503) and their deadlines."""

    max_connections: int = DEFAULT_MAX_CONNECTIONS
    backlog: int = DEFAULT_BACKLOG
    keep_alive_seconds: int = DEFAULT_KEEP_ALIVE_SECONDS
    header_timeout_seconds: float = DEFAULT_HEADER_TIMEOUT_SECONDS

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ServerOptions:
        return cls(
            max_connections=env_int(
                environ, envvars.API_MAX_CONNECTIONS, default=DEFAULT_MAX_CONNECTIONS, low=2, high=100_000
            ),
            backlog=env_int(environ, envvars.API_BACKLOG, default=DEFAULT_BACKLOG, low=1, high=65_535),
            keep_alive_seconds=env_int(
                environ, envvars.API_KEEP_ALIVE_SECONDS, default=DEFAULT_KEEP_ALIVE_SECONDS, low=1, high=3600
            ),
            header_timeout_seconds=env_seconds(
                environ, envvars.API_HEADER_TIMEOUT_SECONDS, default=DEFAULT_HEADER_TIMEOUT_SECONDS
            ),
        )

    def uvicorn_options(self) -> dict[str, Any]:
        return {
            "limit_concurrency": self.max_connections,
            "backlog": self.backlog,
            "timeout_keep_alive": self.keep_alive_seconds,
            "http": header_deadline_protocol(self.header_timeout_seconds),
            "log_config": log_config(),
            "access_log": True,
        }
