"""The FastAPI application: job status, progress from jobs, uploads, and the results viewer."""

# No `from __future__ import annotations`: FastAPI resolves the route signatures below, which
# refer to names local to create_app.
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, cast

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import Body, Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles

from reelsight import __version__, envvars
from reelsight.api import schemas
from reelsight.api.auth import (
    DEFAULT_FAILURES_PER_MINUTE,
    FailureLimiter,
    TokenSource,
    token_source_from_env,
    tokens_match,
)
from reelsight.api.store import DEFAULT_VIDEO_SUFFIXES, JobStore, StoreError
from reelsight.api.views import detail, list_item, progress_view
from reelsight.errors import ParamError, ReelsightError

STATIC_DIR = Path(__file__).parent / "static"
JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?$"
STATUS_PATTERN = r"^[A-Za-z][A-Za-z_-]{0,31}$"
REALM = 'Bearer realm="reelsight"'
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data: blob: http: https:; media-src 'self' blob: http: https:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": schemas.ErrorBody, "description": "Missing or wrong bearer token."},
    429: {"model": schemas.ErrorBody, "description": "Too many failed attempts from this address."},
    502: {"model": schemas.ErrorBody, "description": "DynamoDB or S3 refused the request."},
    503: {"model": schemas.ErrorBody, "description": "The API token cannot be read."},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": schemas.ErrorBody, "description": "No such job."}
}
BAD_REQUEST: dict[int | str, dict[str, Any]] = {
    400: {"model": schemas.ErrorBody, "description": "Bad parameter, or a body that is not JSON."}
}


@dataclass
class ApiSettings:
    jobs_table: str
    results_bucket: str
    input_bucket: str
    upload_prefix: str = "incoming/"
    video_suffixes: tuple[str, ...] = DEFAULT_VIDEO_SUFFIXES
    failures_per_minute: int = DEFAULT_FAILURES_PER_MINUTE

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "ApiSettings":
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
        suffixes = [
            s.strip().lower() for s in environ.get(envvars.VIDEO_SUFFIXES, "").split(",") if s.strip()
        ]
        return cls(
            jobs_table=environ[envvars.JOBS_TABLE],
            results_bucket=environ[envvars.RESULTS_BUCKET],
            input_bucket=environ[envvars.INPUT_BUCKET],
            upload_prefix=environ.get(envvars.UPLOAD_PREFIX) or "incoming/",
            video_suffixes=tuple(s if s.startswith(".") else f".{s}" for s in suffixes)
            or DEFAULT_VIDEO_SUFFIXES,
            failures_per_minute=limit,
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
    if session is None:
        import boto3

        session = boto3.session.Session()
    tokens = token_source or token_source_from_env(env, session)
    limiter = FailureLimiter(settings.failures_per_minute)
    store = JobStore(
        session=session,
        jobs_table=settings.jobs_table,
        results_bucket=settings.results_bucket,
        input_bucket=settings.input_bucket,
        upload_prefix=settings.upload_prefix,
        video_suffixes=settings.video_suffixes,
    )

    app = FastAPI(
        title="reelsight API",
        # No Swagger UI / ReDoc pages: they load their scripts from a CDN. /openapi.json stays.
        docs_url=None,
        redoc_url=None,
        version=__version__,
        description=(
            "Job status, progress reports from Processing jobs, presigned uploads and result documents. "
            "Everything under /v1 needs `Authorization: Bearer <token>`."
        ),
    )
    bearer = HTTPBearer(auto_error=False, description="The API token.")

    def require_token(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> None:
        address = request.client.host if request.client else "unknown"
        wait = limiter.retry_after(address)
        if wait:
            raise HTTPException(429, "too many failed attempts; try again later", {"Retry-After": str(wait)})
        if credentials is None or not credentials.credentials:
            raise HTTPException(401, "missing bearer token", {"WWW-Authenticate": REALM})
        try:
            expected = tokens.get()
        except (ClientError, BotoCoreError, ReelsightError) as exc:
            raise HTTPException(503, f"the API token cannot be read: {exc}") from None
        if not tokens_match(credentials.credentials, expected):
            limiter.record_failure(address)
            raise HTTPException(
                401, "wrong bearer token", {"WWW-Authenticate": f'{REALM}, error="invalid_token"'}
            )

    authorized = [Depends(require_token)]

    @app.exception_handler(StoreError)
    def _store_error(_: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.status)

    @app.exception_handler(ClientError)
    def _aws_error(_: Request, exc: ClientError) -> JSONResponse:
        error = exc.response.get("Error", {})
        return JSONResponse(
            {"detail": f"AWS refused the request: {error.get('Code')}: {error.get('Message')}"}, 502
        )

    @app.exception_handler(BotoCoreError)
    def _aws_unreachable(_: Request, exc: BotoCoreError) -> JSONResponse:
        return JSONResponse({"detail": f"AWS could not be reached: {exc}"}, 502)

    @app.exception_handler(ParamError)
    def _param_error(_: Request, exc: ParamError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, 400)

    @app.middleware("http")
    async def _security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
            response.headers["Cache-Control"] = "no-store"
        return response

    # --- health and viewer pages (no auth: the pages hold no data; their data calls carry the token) ---

    @app.get("/healthz", response_model=schemas.Health, tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/", include_in_schema=False)
    def index_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    @app.get("/jobs/{job_id}", include_in_schema=False)
    def job_page(job_id: str) -> FileResponse:
        return FileResponse(STATIC_DIR / "job.html", media_type="text/html")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # --- /v1 ---

    UploadRequest = schemas.upload_request_model(settings.video_suffixes)
    JobId = Annotated[str, PathParam(pattern=JOB_ID_PATTERN, description="The job id.")]

    @app.get(
        "/v1/jobs",
        response_model=schemas.JobList,
        dependencies=authorized,
        responses={**ERRORS, **BAD_REQUEST},
        tags=["jobs"],
    )
    def list_jobs(
        limit: Annotated[int, Query(ge=1, le=100, description="Items per page.")] = 20,
        next: Annotated[
            str | None, Query(max_length=4096, description="Token from the previous page.")
        ] = None,
        status: Annotated[
            str | None,
            Query(
                pattern=STATUS_PATTERN,
                description="Only jobs in this status (QUEUED, RUNNING, SUCCEEDED, FAILED; any case).",
            ),
        ] = None,
        since: Annotated[str | None, TimeQuery("Created at or after")] = None,
        until: Annotated[str | None, TimeQuery("Created at or before")] = None,
    ) -> dict[str, Any]:
        since_utc, until_utc = _timestamp("since", since), _timestamp("until", until)
        if since_utc and until_utc and since_utc > until_utc:
            raise StoreError(400, "since must not be later than until")
        status = (
            status.upper() if status else None
        )  # the dispatcher writes QUEUED, RUNNING, SUCCEEDED, FAILED
        page = store.list_jobs(status=status, since=since_utc, until=until_utc, limit=limit, next_token=next)
        return {"items": [list_item(item) for item in page.items], "next": page.next}

    @app.get(
        "/v1/jobs/{job_id}",
        response_model=schemas.JobDetail,
        dependencies=authorized,
        responses={**ERRORS, **NOT_FOUND},
        tags=["jobs"],
    )
    def get_job(job_id: JobId) -> dict[str, Any]:
        return detail(_record(store, job_id), store)

    @app.get(
        "/v1/jobs/{job_id}/result",
        response_model=schemas.ResultDocument,
        dependencies=authorized,
        responses={
            **ERRORS,
            404: {"model": schemas.ErrorBody, "description": "No such job, or no result yet."},
        },
        tags=["jobs"],
    )
    def get_result(job_id: JobId) -> StreamingResponse:
        record = _record(store, job_id)
        objects = store.list_job_objects(job_id)
        key = store.result_location(job_id, record, objects)
        if key:
            return StreamingResponse(store.open_object(key), media_type="application/json")
        parts = _result_parts(objects)
        if parts is None:
            raise StoreError(404, f"job {job_id} has no result yet (status: {record.get('status')})")
        return StreamingResponse(_assembled_document(store, *parts), media_type="application/json")

    @app.post(
        "/v1/jobs/{job_id}/progress",
        response_model=schemas.ProgressAnswer,
        dependencies=authorized,
        responses={
            **ERRORS,
            **NOT_FOUND,
            400: {"model": schemas.ErrorBody, "description": "The body is not JSON."},
            409: {
                "model": schemas.ErrorBody,
                "description": "Backward progress: a larger frames_done is stored.",
            },
        },
        tags=["jobs"],
    )
    def post_progress(job_id: JobId, report: Annotated[schemas.ProgressReport, Body()]) -> dict[str, Any]:
        outcome = store.record_progress(job_id, report.video, report.frames_done, report.frames_total)
        record = store.get_job(job_id) or {"job_id": job_id}
        return {
            "job_id": job_id,
            "video": report.video,
            "applied": outcome.applied,
            "progress": outcome.current,
            "job_progress": progress_view(record),
        }

    @app.post(
        "/v1/uploads",
        response_model=schemas.UploadTicket,
        dependencies=authorized,
        responses={**ERRORS, **BAD_REQUEST},
        tags=["uploads"],
    )
    def post_upload(request: Annotated[UploadRequest, Body()]) -> dict[str, Any]:  # type: ignore[valid-type]
        upload = cast(schemas.UploadOptions, request)
        metadata = _upload_metadata(upload)
        filename = str(upload.model_dump()["filename"])
        return store.presign_upload(filename=filename, content_type=upload.content_type, metadata=metadata)

    return app


def TimeQuery(meaning: str) -> Any:  # noqa: N802 - reads like the Query() it returns
    return Query(
        pattern=TIMESTAMP_PATTERN,
        description=f"{meaning} this time: RFC 3339, e.g. 2026-11-01T12:00:00Z (UTC if no offset).",
        json_schema_extra={"format": "date-time"},
    )


def _timestamp(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.upper())
    except ValueError:
        raise StoreError(400, f"{name} is not a valid time: {value!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _record(store: JobStore, job_id: str) -> dict[str, Any]:
    record = store.get_job(job_id)
    if record is None:
        raise StoreError(404, f"no job with id {job_id}")
    return record


def _upload_metadata(request: schemas.UploadOptions) -> dict[str, str]:
    """fps/model as S3 user metadata, checked the way the dispatcher will parse them."""
    from reelsight.models.registry import get_spec
    from reelsight.params import RunOptions

    metadata: dict[str, str] = {}
    if request.fps is not None:
        metadata["fps"] = format(request.fps, "g")
    if request.model is not None:
        metadata["model"] = request.model.strip().lower()
        try:
            get_spec(metadata["model"])
        except ReelsightError as exc:
            raise StoreError(400, str(exc)) from None
    if metadata:
        RunOptions().with_overrides(metadata).validate()  # ParamError -> 400
    return metadata


def _result_parts(objects: list[dict[str, Any]]) -> tuple[str, str] | None:
    """The shallowest summary.json with a frames.jsonl beside it (what a Processing job leaves)."""
    keys = {o["key"] for o in objects}
    summaries = sorted(
        (k for k in keys if k.rsplit("/", 1)[-1] == "summary.json"), key=lambda k: (k.count("/"), k)
    )
    for summary in summaries:
        frames = summary[: -len("summary.json")] + "frames.jsonl"
        if frames in keys:
            return summary, frames
    return None


def _assembled_document(store: JobStore, summary_key: str, frames_key: str) -> Iterator[bytes]:
    """``{"schema_version", "summary", "frames"}`` streamed from summary.json and frames.jsonl."""
    summary = json.loads(store.read_object_text(summary_key))
    version = summary.get("schema_version", "1.0") if isinstance(summary, dict) else "1.0"
    frames = store.open_object(frames_key)

    def generate() -> Iterator[bytes]:
        yield (
            b'{"schema_version":'
            + json.dumps(version).encode()
            + b',"summary":'
            + json.dumps(summary).encode()
        )
        yield b',"frames":['
        pending, first = b"", True
        for chunk in frames:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    yield (b"" if first else b",") + line.strip()
                    first = False
        if pending.strip():
            yield (b"" if first else b",") + pending.strip()
        yield b"]}"

    return generate()
