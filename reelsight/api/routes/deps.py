"""What the routers share: the per-app context, the auth requirement and the documented errors.

The check itself runs before the app, in the request gate (``reelsight.api.gate``,
``reelsight.api.auth.Authenticator``); ``require_token`` reads its grant and declares the schemes in
the OpenAPI description.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import Depends, HTTPException, Request, Security
from fastapi import Path as PathParam
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from reelsight.api import schemas
from reelsight.api.auth import AUTH_STATE, REALM, FailureLimiter, Grant, TokenSource
from reelsight.api.sessions import SESSION_COOKIE, SessionStore
from reelsight.api.store import JobStore

JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": schemas.ErrorBody, "description": "Missing or wrong bearer token, or no valid session."},
    408: {"model": schemas.ErrorBody, "description": "The request body did not arrive in time."},
    413: {"model": schemas.ErrorBody, "description": "The request body is over the size limit."},
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
session_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    description="The viewer's session (POST /v1/login); GET, HEAD and POST /v1/logout only.",
)


@dataclass(frozen=True)
class ApiContext:
    """What one app's endpoints work with; ``create_app`` keeps it in ``app.state.context``."""

    store: JobStore
    tokens: TokenSource
    limiter: FailureLimiter
    sessions: SessionStore


def api_context(request: Request) -> ApiContext:
    return cast(ApiContext, request.app.state.context)


def job_store(request: Request) -> JobStore:
    return api_context(request).store


def require_token(
    request: Request,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    _session: Annotated[str | None, Security(session_cookie)],
) -> Grant:
    """The gate's grant; every /v1 request has one, or the gate answered already."""
    grant = request.scope.get("state", {}).get(AUTH_STATE)
    if not isinstance(grant, Grant):
        raise HTTPException(401, "missing bearer token", {"WWW-Authenticate": REALM})
    return grant


AUTHORIZED = [Depends(require_token)]
Store = Annotated[JobStore, Depends(job_store)]
