"""``reelsight api``: run the API server and results viewer."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "api",
        help="run the API server and results viewer",
        description=(
            "Serve job status, progress reports, presigned uploads and the results viewer. "
            "Reads REELSIGHT_JOBS_TABLE, REELSIGHT_RESULTS_BUCKET, REELSIGHT_INPUT_BUCKET and the token from "
            "REELSIGHT_API_TOKEN, REELSIGHT_API_TOKEN_SECRET_ARN or REELSIGHT_API_TOKEN_PARAMETER."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    parser.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        help="uvicorn log level (default: info)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from reelsight.api import create_app
    from reelsight.errors import ParamError

    if not 0 < args.port < 65536:
        raise ParamError(f"--port must be between 1 and 65535, got {args.port}")
    app = create_app()
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, proxy_headers=False)
    return 0
