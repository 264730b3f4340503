"""The FastAPI application: job status, progress from jobs, uploads, and the results viewer.

``create_app`` only composes; the endpoints live in ``reelsight.api.routes``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from reelsight import __version__, envvars
from reelsight.api.auth import (
    DEFAULT_FAILURES_PER_MINUTE,
    Authenticator,
    FailureLimiter,
    TokenSource,
    token_source_from_env,
)
from reelsight.api.gate import DEFAULT_BODY_TIMEOUT_SECONDS, DEFAULT_MAX_BODY_BYTES, BodyLimits
from reelsight.api.middleware import add_error_handlers, add_request_gate, add_security_headers
from reelsight.api.routes import batches, health, jobs, tracks, viewer
from reelsight.api.routes import session as session_routes
from reelsight.api.routes.deps import ApiContext
from reelsight.api.routes.uploads import uploads_router
from reelsight.api.sessions import DEFAULT_SESSION_SECONDS, MAX_SESSION_SECONDS, SessionStore
from reelsight.api.store import JobStore
from reelsight.contract.names import UPLOAD_PREFIX, VIDEO_SUFFIXES, parse_video_suffixes
from reelsight.contract.settings import env_int, env_seconds
from reelsight.errors import ParamError

MAX_BODY_LIMIT = 64 * 1024 * 1024

DESCRIPTION = (
    "Job status, progress reports from Processing jobs, presigned uploads and result documents. "
    "Everything under /v1 needs `Authorization: Bearer <token>`, or for GET and HEAD the viewer's "
    "session cookie (`POST /v1/login`). Request bodies are limited in size and in time."
)


@dataclass
class ApiSettings:
    jobs_table: str
    results_bucket: str
    input_bucket: str
    upload_prefix: str = UPLOAD_PREFIX
    video_suffixes: tuple[str, ...] = VIDEO_SUFFIXES
    failures_per_minute: int = DEFAULT_FAILURES_PER_MINUTE
    session_seconds: int = DEFAULT_SESSION_SECONDS
    body_limits: BodyLimits = BodyLimits()

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ApiSettings:
        missing = [
            n
            for n in (envvars.JOBS_TABLE, envvars.RESULTS_BUCKET, envvars.INPUT_BUCKET)
            if not environ.get(n)
        ]
        if missing:
            raise ParamError(f"the API needs these environment variables: {', '.join(missing)}")
        raw_limit = environ.get(envvars.API_AUTH_FAILURES_PER_MINUTE, "").strip()
        try:
            limit = int(raw_limit) if raw_limit else DEFAULT_FAILURES_PER_MINUTE
        except ValueError:
            raise ParamError(
                f"{envvars.API_AUTH_FAILURES_PER_MINUTE} must be an integer, got {raw_limit!r}"
            ) from None
        try:
            suffixes = parse_video_suffixes(environ.get(envvars.VIDEO_SUFFIXES_OVERRIDE))
        except ValueError as exc:
            raise ParamError(f"{envvars.VIDEO_SUFFIXES_OVERRIDE}: {exc}") from None
        return cls(
            jobs_table=environ[envvars.JOBS_TABLE],
            results_bucket=environ[envvars.RESULTS_BUCKET],
            input_bucket=environ[envvars.INPUT_BUCKET],
            upload_prefix=environ.get(envvars.UPLOAD_PREFIX) or UPLOAD_PREFIX,
            video_suffixes=suffixes,
            failures_per_minute=limit,
            session_seconds=env_int(
                environ,
                envvars.API_SESSION_SECONDS,
                default=DEFAULT_SESSION_SECONDS,
                low=60,
                high=MAX_SESSION_SECONDS,
            ),
            body_limits=body_limits_from_env(environ),
        )


def body_limits_from_env(environ: Mapping[str, str]) -> BodyLimits:
    return BodyLimits(
        max_bytes=env_int(
            environ, envvars.API_MAX_BODY_BYTES, default=DEFAULT_MAX_BODY_BYTES, low=1024, high=MAX_BODY_LIMIT
        ),
        timeout_seconds=env_seconds(
            environ, envvars.API_BODY_TIMEOUT_SECONDS, default=DEFAULT_BODY_TIMEOUT_SECONDS
        ),
    )


def create_app(
    settings: ApiSettings | None = None,
    *,
    token_source: TokenSource | None = None,
    session: Any | None = None,
    environ: Mapping[str, str] | None = None,
) -> FastAPI:
    """Build the app; settings, token and AWS session come from the environment unless given."""
    env = os.environ if environ is None else environ
    settings = settings or ApiSettings.from_env(env)
    session = session or _default_session()
    # No Swagger UI / ReDoc pages: they load their scripts from a CDN. /openapi.json stays.
    app = FastAPI(
        title="reelsight API", docs_url=None, redoc_url=None, version=__version__, description=DESCRIPTION
    )
    context = ApiContext(
        store=_job_store(settings, session),
        tokens=token_source or token_source_from_env(env, session),
        limiter=FailureLimiter(settings.failures_per_minute),
        sessions=SessionStore(settings.session_seconds),
    )
    app.state.context = context
    add_error_handlers(app)
    # The last added runs first: the security headers wrap the gate's refusals too.
    add_request_gate(
        app,
        check=Authenticator(context.tokens, context.limiter, context.sessions),
        limits=settings.body_limits,
    )
    add_security_headers(app)
    app.include_router(health.router)
    app.include_router(session_routes.router)
    app.include_router(viewer.router)
    viewer.mount_static(app)
    app.include_router(jobs.router)
    app.include_router(batches.router)
    app.include_router(tracks.router)
    app.include_router(uploads_router(settings.video_suffixes))
    return app


def _default_session() -> Any:
    import boto3

    return boto3.session.Session()


def _job_store(settings: ApiSettings, session: Any) -> JobStore:
    return JobStore(
        session=session,
        jobs_table=settings.jobs_table,
        results_bucket=settings.results_bucket,
        input_bucket=settings.input_bucket,
        upload_prefix=settings.upload_prefix,
        video_suffixes=settings.video_suffixes,
    )
