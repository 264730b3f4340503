"""Lambda settings, read from the environment at invocation time (so tests can change them)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from reelsight import envvars
from reelsight.media import VIDEO_SUFFIXES

DEFAULT_VIDEO_SUFFIXES = VIDEO_SUFFIXES
ONE_GB = 1_000_000_000


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _int(environ: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from None
    return min(max(value, low), high)


@dataclass(frozen=True)
class Settings:
    jobs_table: str = ""
    idempotency_table: str = ""
    input_bucket: str = ""
    results_bucket: str = ""
    upload_prefix: str = "incoming/"
    batch_prefix: str = "batch/"
    video_suffixes: tuple[str, ...] = DEFAULT_VIDEO_SUFFIXES
    endpoint_name: str = ""
    async_max_bytes: int = ONE_GB
    invocation_timeout_seconds: int = 3600
    request_ttl_seconds: int = 21600
    processing_role_arn: str = ""
    processing_image_uri: str = ""
    processing_mxnet_image_uri: str = ""
    processing_instance_type: str = "ml.g5.xlarge"
    processing_instance_count: int = 1
    processing_subnet_ids: tuple[str, ...] = ()
    processing_security_group_ids: tuple[str, ...] = ()
    processing_max_runtime_seconds: int = 86400
    processing_volume_gb: int = 100
    kms_key_arn: str = ""
    results_topic_arn: str = ""
    api_url: str = ""
    api_token_secret_arn: str = ""
    results_max_fetch_bytes: int = 8 * 1024 * 1024
    idempotency_ttl_seconds: int = 7 * 24 * 3600

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        suffixes = tuple(s.lower() for s in _split(env.get(envvars.VIDEO_SUFFIXES))) or DEFAULT_VIDEO_SUFFIXES
        return cls(
            jobs_table=env.get(envvars.JOBS_TABLE, ""),
            idempotency_table=env.get(envvars.IDEMPOTENCY_TABLE, ""),
            input_bucket=env.get(envvars.INPUT_BUCKET, ""),
            results_bucket=env.get(envvars.RESULTS_BUCKET, ""),
            upload_prefix=env.get(envvars.UPLOAD_PREFIX) or "incoming/",
            batch_prefix=env.get(envvars.BATCH_PREFIX) or "batch/",
            video_suffixes=tuple(s if s.startswith(".") else f".{s}" for s in suffixes),
            endpoint_name=env.get(envvars.ENDPOINT_NAME, ""),
            async_max_bytes=_int(env, envvars.ASYNC_MAX_BYTES, ONE_GB, 1, 10 * ONE_GB),
            invocation_timeout_seconds=_int(env, envvars.INVOCATION_TIMEOUT_SECONDS, 3600, 1, 3600),
            request_ttl_seconds=_int(env, envvars.REQUEST_TTL_SECONDS, 21600, 60, 21600),
            processing_role_arn=env.get(envvars.PROCESSING_ROLE_ARN, ""),
            processing_image_uri=env.get(envvars.PROCESSING_IMAGE_URI, ""),
            processing_mxnet_image_uri=env.get(envvars.MXNET_IMAGE_URI, ""),
            processing_instance_type=env.get(envvars.PROCESSING_INSTANCE_TYPE) or "ml.g5.xlarge",
            processing_instance_count=_int(env, envvars.PROCESSING_INSTANCE_COUNT, 1, 1, 100),
            processing_subnet_ids=_split(env.get(envvars.PROCESSING_SUBNET_IDS)),
            processing_security_group_ids=_split(env.get(envvars.PROCESSING_SECURITY_GROUP_IDS)),
            processing_max_runtime_seconds=_int(
                env, envvars.PROCESSING_MAX_RUNTIME_SECONDS, 86400, 60, 5 * 86400
            ),
            processing_volume_gb=_int(env, envvars.PROCESSING_VOLUME_GB, 100, 1, 16384),
            kms_key_arn=env.get(envvars.KMS_KEY_ARN, ""),
            results_topic_arn=env.get(envvars.RESULTS_TOPIC_ARN, ""),
            api_url=env.get(envvars.API_URL, ""),
            api_token_secret_arn=env.get(envvars.API_TOKEN_SECRET_ARN, ""),
            results_max_fetch_bytes=_int(
                env, envvars.RESULTS_MAX_FETCH_BYTES, 8 * 1024 * 1024, 1024, 1 << 30
            ),
            idempotency_ttl_seconds=_int(
                env, envvars.IDEMPOTENCY_TTL_SECONDS, 7 * 24 * 3600, 60, 365 * 86400
            ),
        )
