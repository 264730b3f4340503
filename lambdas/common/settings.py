"""Lambda settings, read from the environment at invocation time (so tests can change them)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from reelsight import envvars
from reelsight.contract.names import BATCH_PREFIX, UPLOAD_PREFIX, VIDEO_SUFFIXES, parse_video_suffixes
from reelsight.contract.options import run_option_variables
from reelsight.contract.processing import ProcessingJobDefinition
from reelsight.contract.settings import env_int

ONE_GB = 1_000_000_000


def _video_suffixes(environ: Mapping[str, str]) -> tuple[str, ...]:
    try:
        return parse_video_suffixes(environ.get(envvars.VIDEO_SUFFIXES_OVERRIDE))
    except ValueError as error:
        raise ValueError(f"environment variable {envvars.VIDEO_SUFFIXES_OVERRIDE}: {error}") from None


def _processing_definition(environ: Mapping[str, str]) -> ProcessingJobDefinition | None:
    raw = environ.get(envvars.PROCESSING_JOB_DEFINITION, "").strip()
    if not raw:
        return None
    try:
        return ProcessingJobDefinition.from_json(raw)
    except ValueError as error:
        raise ValueError(f"environment variable {envvars.PROCESSING_JOB_DEFINITION}: {error}") from None


@dataclass(frozen=True)
class Settings:
    jobs_table: str = ""
    idempotency_table: str = ""
    input_bucket: str = ""
    results_bucket: str = ""
    upload_prefix: str = UPLOAD_PREFIX
    batch_prefix: str = BATCH_PREFIX
    video_suffixes: tuple[str, ...] = VIDEO_SUFFIXES
    endpoint_name: str = ""
    async_max_bytes: int = ONE_GB
    invocation_timeout_seconds: int = 3600
    request_ttl_seconds: int = 21600
    # None where the deployment starts no Processing jobs.
    processing: ProcessingJobDefinition | None = None
    results_topic_arn: str = ""
    # The deployment's REELSIGHT_* run defaults, handed on unchanged to every Processing job.
    run_defaults: Mapping[str, str] = field(default_factory=dict)
    results_max_fetch_bytes: int = 8 * 1024 * 1024
    idempotency_ttl_seconds: int = 7 * 24 * 3600

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            jobs_table=env.get(envvars.JOBS_TABLE, ""),
            idempotency_table=env.get(envvars.IDEMPOTENCY_TABLE, ""),
            input_bucket=env.get(envvars.INPUT_BUCKET, ""),
            results_bucket=env.get(envvars.RESULTS_BUCKET, ""),
            upload_prefix=env.get(envvars.UPLOAD_PREFIX) or UPLOAD_PREFIX,
            batch_prefix=env.get(envvars.BATCH_PREFIX) or BATCH_PREFIX,
            video_suffixes=_video_suffixes(env),
            endpoint_name=env.get(envvars.ENDPOINT_NAME, ""),
            run_defaults=run_option_variables(env),
            async_max_bytes=env_int(env, envvars.ASYNC_MAX_BYTES, default=ONE_GB, low=1, high=10 * ONE_GB),
            invocation_timeout_seconds=env_int(
                env, envvars.INVOCATION_TIMEOUT_SECONDS, default=3600, low=1, high=3600
            ),
            request_ttl_seconds=env_int(env, envvars.REQUEST_TTL_SECONDS, default=21600, low=60, high=21600),
            processing=_processing_definition(env),
            results_topic_arn=env.get(envvars.RESULTS_TOPIC_ARN, ""),
            results_max_fetch_bytes=env_int(
                env, envvars.RESULTS_MAX_FETCH_BYTES, default=8 * 1024 * 1024, low=1024, high=1 << 30
            ),
            idempotency_ttl_seconds=env_int(
                env, envvars.IDEMPOTENCY_TTL_SECONDS, default=7 * 24 * 3600, low=60, high=365 * 86400
            ),
        )
