"""``reelsight api``: run the API server and results viewer."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

from reelsight import envvars
from reelsight.errors import ParamError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "api",
        help="run the API server and results viewer",
        description=(
            "Serve job status, progress reports, presigned uploads and the results viewer. "
            "Reads REELSIGHT_JOBS_TABLE, REELSIGHT_RESULTS_BUCKET, REELSIGHT_INPUT_BUCKET and the token from "
            "REELSIGHT_API_TOKEN, REELSIGHT_API_TOKEN_SECRET_ARN or REELSIGHT_API_TOKEN_PARAMETER "
            "(see docs/api.md)."
        ),
    )
    parser.add_argument(
        "--host", default=None, help=f"address to listen on (default: ${envvars.HOST} or {DEFAULT_HOST})"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"port to listen on (default: ${envvars.PORT} or {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        help="uvicorn log level (default: info)",
    )
    parser.set_defaults(func=run)


def listen_address(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[str, int]:
    host = args.host or environ.get(envvars.HOST) or DEFAULT_HOST
    port = args.port
    if port is None:
        raw = environ.get(envvars.PORT, "").strip()
        try:
            port = int(raw) if raw else DEFAULT_PORT
        except ValueError:
            raise ParamError(f"{envvars.PORT} must be a port number, got {raw!r}") from None
    if not 0 < port < 65536:
        raise ParamError(f"the port must be between 1 and 65535, got {port}")
    return host, port


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from reelsight.api import create_app

    host, port = listen_address(args, os.environ)
    app = create_app()
    uvicorn.run(app, host=host, port=port, log_level=args.log_level, proxy_headers=False)
    return 0
