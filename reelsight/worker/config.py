"""Runtime settings of ``reelsight serve``, read from the environment (names in ``reelsight.envvars``)."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reelsight import envvars
from reelsight.contract.names import JOBS_PREFIX
from reelsight.contract.settings import env_int, env_seconds
from reelsight.worker.live import DEFAULT_PROGRESS_INTERVAL, PartPolicy

DEFAULT_PORT = 8080
DEFAULT_HOST = "127.0.0.1"
DEFAULT_MODEL_DIR = "/opt/ml/model"
DEFAULT_ARTIFACT_PREFIX = JOBS_PREFIX
DEFAULT_MAX_CONCURRENCY = 2
DEFAULT_MAX_BODY_BYTES = 1024**3  # SageMaker asynchronous inference accepts payloads up to 1 GB
DEFAULT_MAX_RESPONSE_BYTES = 5 * 1024**2
DEFAULT_READ_TIMEOUT = 30.0
DEFAULT_BODY_TIMEOUT = 900.0
DEFAULT_MAX_CONNECTIONS = 64
DEFAULT_SHUTDOWN_GRACE = 30.0


@dataclass(frozen=True)
class ServeConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    model_dir: Path = Path(DEFAULT_MODEL_DIR)
    artifact_bucket: str | None = None
    artifact_prefix: str = DEFAULT_ARTIFACT_PREFIX
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    hold_file: Path | None = None
    jobs_table: str | None = None  # progress and RUNNING go to the jobs table when set
    progress_interval: float = DEFAULT_PROGRESS_INTERVAL
    part_policy: PartPolicy = field(default_factory=PartPolicy)
    read_timeout: float = DEFAULT_READ_TIMEOUT  # seconds without a byte of the request head or body
    body_timeout: float = DEFAULT_BODY_TIMEOUT  # seconds for the whole body
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE
    temp_root: Path = field(default_factory=lambda: Path(tempfile.gettempdir()))

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ServeConfig:
        prefix = environ.get(envvars.ARTIFACT_PREFIX, DEFAULT_ARTIFACT_PREFIX).strip().lstrip("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        hold = environ.get(envvars.DEBUG_HOLD_FILE, "").strip()
        return cls(
            host=environ.get(envvars.HOST, "").strip() or DEFAULT_HOST,
            port=env_int(environ, envvars.PORT, default=DEFAULT_PORT, low=1, high=65535),
            max_concurrency=env_int(
                environ, envvars.MAX_CONCURRENCY, default=DEFAULT_MAX_CONCURRENCY, low=1, high=1024
            ),
            model_dir=Path(environ.get(envvars.MODEL_DIR, "").strip() or DEFAULT_MODEL_DIR),
            artifact_bucket=environ.get(envvars.ARTIFACT_BUCKET, "").strip() or None,
            artifact_prefix=prefix,
            max_body_bytes=env_int(
                environ, envvars.MAX_BODY_BYTES, default=DEFAULT_MAX_BODY_BYTES, low=1, high=1 << 40
            ),
            max_response_bytes=env_int(
                environ,
                envvars.MAX_RESPONSE_BYTES,
                default=DEFAULT_MAX_RESPONSE_BYTES,
                low=1024,
                high=1 << 32,
            ),
            hold_file=Path(hold) if hold else None,
            jobs_table=environ.get(envvars.JOBS_TABLE, "").strip() or None,
            progress_interval=env_seconds(
                environ, envvars.PROGRESS_INTERVAL, default=DEFAULT_PROGRESS_INTERVAL
            ),
            part_policy=PartPolicy.from_env(environ),
            **_limits_from_env(environ),
        )


def _limits_from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """The HTTP layer's timeouts and bounds, and the temp root."""
    temp = environ.get(envvars.TEMP_DIR, "").strip()
    return {
        "read_timeout": env_seconds(environ, envvars.READ_TIMEOUT_SECONDS, default=DEFAULT_READ_TIMEOUT),
        "body_timeout": env_seconds(environ, envvars.BODY_TIMEOUT_SECONDS, default=DEFAULT_BODY_TIMEOUT),
        "max_connections": env_int(
            environ, envvars.MAX_CONNECTIONS, default=DEFAULT_MAX_CONNECTIONS, low=4, high=65536
        ),
        "shutdown_grace": env_seconds(
            environ, envvars.SHUTDOWN_GRACE_SECONDS, default=DEFAULT_SHUTDOWN_GRACE
        ),
        "temp_root": Path(temp) if temp else Path(tempfile.gettempdir()),
    }
