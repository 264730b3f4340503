"""The app-wide answers: AWS and parameter errors as JSON, and the security headers on every response."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from reelsight.api.store import StoreError
from reelsight.errors import ParamError

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data: blob: http: https:; media-src 'self' blob: http: https:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def store_error(_: Request, exc: StoreError) -> JSONResponse:
    return JSONResponse({"detail": exc.message}, status_code=exc.status)


def aws_refused(_: Request, exc: ClientError) -> JSONResponse:
    error = exc.response.get("Error", {})
    return JSONResponse(
        {"detail": f"AWS refused the request: {error.get('Code')}: {error.get('Message')}"}, 502
    )


def aws_unreachable(_: Request, exc: BotoCoreError) -> JSONResponse:
    return JSONResponse({"detail": f"AWS could not be reached: {exc}"}, 502)


def param_error(_: Request, exc: ParamError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, 400)


def add_error_handlers(app: FastAPI) -> None:
    app.exception_handler(StoreError)(store_error)
    app.exception_handler(ClientError)(aws_refused)
    app.exception_handler(BotoCoreError)(aws_unreachable)
    app.exception_handler(ParamError)(param_error)


async def security_headers(request: Request, call_next: Any) -> Response:
    response: Response = await call_next(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if response.headers.get("content-type", "").startswith("text/html"):
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["Cache-Control"] = "no-store"
    return response


def add_security_headers(app: FastAPI) -> None:
    app.middleware("http")(security_headers)
