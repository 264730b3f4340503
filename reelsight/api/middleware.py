"""The app-wide answers: AWS and parameter errors as JSON, the security headers on every response,
and the request gate (auth and body limits before the app; ``reelsight.api.gate``)."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reelsight.api.gate import BodyLimits, Check, RequestGate
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


class SecurityHeaders:
    """nosniff and no-referrer on every answer; a strict CSP and no caching on the pages."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                if headers.get("content-type", "").startswith("text/html"):
                    headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def add_security_headers(app: FastAPI) -> None:
    app.add_middleware(SecurityHeaders)


def add_request_gate(app: FastAPI, *, check: Check, limits: BodyLimits) -> None:
    app.add_middleware(RequestGate, check=check, limits=limits)
