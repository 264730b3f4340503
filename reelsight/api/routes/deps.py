"""What the routers share: the per-app context, the bearer-token check and the documented errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, cast

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import Depends, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from reelsight.api import schemas
from reelsight.api.auth import FailureLimiter, TokenSource, tokens_match
from reelsight.api.store import JobStore
from reelsight.errors import ReelsightError

JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
REALM = 'Bearer realm="reelsight"'

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

JobId = Annotated[str, PathParam(pattern=JOB_ID_PATTERN, description="The job id.")]

bearer = HTTPBearer(auto_error=False, description="The API token.")


@dataclass(frozen=True)
class ApiContext:
    """What one app's endpoints work with; ``create_app`` keeps it in ``app.state.context``."""

    store: JobStore
    tokens: TokenSource
    limiter: FailureLimiter


def api_context(request: Request) -> ApiContext:
    return cast(ApiContext, request.app.state.context)


def job_store(request: Request) -> JobStore:
    return api_context(request).store


def require_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    context = api_context(request)
    address = request.client.host if request.client else "unknown"
    wait = context.limiter.retry_after(address)
    if wait:
        raise HTTPException(429, "too many failed attempts; try again later", {"Retry-After": str(wait)})
    if credentials is None or not credentials.credentials:
        raise HTTPException(401, "missing bearer token", {"WWW-Authenticate": REALM})
    try:
        expected = context.tokens.get()
    except (ClientError, BotoCoreError, ReelsightError) as exc:
        raise HTTPException(503, f"the API token cannot be read: {exc}") from None
    if not tokens_match(credentials.credentials, expected):
        context.limiter.record_failure(address)
        raise HTTPException(
            401, "wrong bearer token", {"WWW-Authenticate": f'{REALM}, error="invalid_token"'}
        )


AUTHORIZED = [Depends(require_token)]
Store = Annotated[JobStore, Depends(job_store)]
