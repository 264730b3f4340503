"""``/v1/login`` and ``/v1/logout``: the viewer exchanges the token once for a session cookie, and ends it.

The cookie is ``HttpOnly`` (no script reads it), ``Secure`` (https, or http on localhost, which
browsers treat as secure), ``SameSite=Strict`` (never sent from another site) and scoped to ``/v1``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from reelsight.api import schemas
from reelsight.api.auth import LOGIN_PATH, LOGOUT_PATH, Grant, session_cookie
from reelsight.api.routes.deps import ERRORS, api_context, require_token
from reelsight.api.sessions import SESSION_COOKIE

COOKIE_PATH = "/v1"

router = APIRouter(tags=["session"])
Granted = Annotated[Grant, Depends(require_token)]


@router.post(LOGIN_PATH, response_model=schemas.SessionStarted, responses=ERRORS)
def login(request: Request, response: Response, grant: Granted) -> dict[str, Any]:
    """Exchange the bearer token (``Authorization`` header; no body) for a session cookie."""
    context = api_context(request)
    session = context.sessions.create(context.tokens.get())
    response.set_cookie(
        SESSION_COOKIE,
        session.session_id,
        max_age=session.seconds,
        path=COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="strict",
    )
    response.headers["Cache-Control"] = "no-store"
    expires = datetime.fromtimestamp(session.expires_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"expires_at": expires, "expires_in": session.seconds}


@router.post(LOGOUT_PATH, response_model=schemas.SessionEnded, responses=ERRORS)
def logout(request: Request, response: Response, grant: Granted) -> dict[str, bool]:
    """End the session of the request's cookie (or the token's caller's), and have the browser drop it."""
    session_id = grant.session_id or session_cookie(request.headers)
    ended = api_context(request).sessions.end(session_id) if session_id else False
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, secure=True, httponly=True, samesite="strict")
    return {"ended": ended}
