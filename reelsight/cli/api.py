"""``reelsight api``: run the API server and results viewer (http, or https with --tls-cert/--tls-key);
``reelsight api tunnel``: reach a deployed one on localhost; ``reelsight api health``: check one."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reelsight import envvars
from reelsight.errors import ParamError
from reelsight.tls import server_files

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_CERT_FILE = Path("~/.reelsight/api-certificate.pem")


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
    parser.add_argument(
        "--tls-cert",
        default=None,
        help=f"serve https with this PEM certificate (default: ${envvars.API_TLS_CERT_FILE}; none: http)",
    )
    parser.add_argument(
        "--tls-key", default=None, help=f"the certificate's PEM key (default: ${envvars.API_TLS_KEY_FILE})"
    )
    parser.set_defaults(func=run)
    commands = parser.add_subparsers(dest="api_command", metavar="{tunnel,health}", required=False)
    _register_tunnel(commands)
    _register_health(commands)


def _register_tunnel(commands: Any) -> None:
    tunnel = commands.add_parser(
        "tunnel",
        help="open a deployed API and viewer on localhost through Session Manager",
        description=(
            "Forward a local port to the API host through Session Manager port forwarding "
            "(AWS-StartPortForwardingSession; needs AWS's session-manager-plugin). The host's TLS "
            "certificate is fetched from its SSM parameter first and saved, so clients pin it "
            "(see docs/deploy.md)."
        ),
    )
    tunnel.add_argument("--local-port", type=int, default=DEFAULT_PORT, help="local port (default: 8000)")
    tunnel.add_argument("--instance-id", help="API host (default: the ApiInstanceId stack output)")
    tunnel.add_argument("--remote-port", type=int, help="API port on the host (default: the ApiUrl output's)")
    tunnel.add_argument(
        "--cert-file",
        default=str(DEFAULT_CERT_FILE),
        help=f"where to save the host's certificate (default: {DEFAULT_CERT_FILE})",
    )
    tunnel.add_argument("--stack-prefix", default="reelsight", help="stack name prefix (default: reelsight)")
    tunnel.add_argument("--region", help="AWS region (default: the profile's)")
    tunnel.add_argument("--profile", help="AWS profile (default: the environment's)")
    tunnel.set_defaults(func=run_tunnel)


def _register_health(commands: Any) -> None:
    health = commands.add_parser(
        "health",
        help="check an API's /healthz, verifying its TLS certificate",
        description=(
            f"GET /healthz of --url (default: ${envvars.API_URL}, else this machine's server on "
            f"${envvars.PORT}). https is verified against ${envvars.API_CA_FILE} or "
            f"${envvars.API_CERT_PARAMETER}, else against the local server's own "
            f"${envvars.API_TLS_CERT_FILE}."
        ),
    )
    health.add_argument("--url", help="the API's base URL")
    health.add_argument("--timeout", type=float, default=5.0, help="seconds to wait (default: 5)")
    health.set_defaults(func=run_health)


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
    from reelsight.api.server import ServerOptions

    host, port = listen_address(args, os.environ)
    tls = server_files(args.tls_cert, args.tls_key, os.environ)
    tls_options: dict[str, Any] = {"ssl_certfile": tls[0], "ssl_keyfile": tls[1]} if tls else {}
    server_options = ServerOptions.from_env(os.environ).uvicorn_options()
    app = create_app()
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=args.log_level,
        proxy_headers=False,
        **server_options,
        **tls_options,
    )
    return 0


def run_tunnel(args: argparse.Namespace) -> int:
    import boto3

    from reelsight.client import stack_outputs
    from reelsight.tunnel import open_tunnel

    session = boto3.session.Session(profile_name=args.profile, region_name=args.region)
    outputs = {} if args.instance_id and args.remote_port else stack_outputs(session, args.stack_prefix)
    return open_tunnel(
        session,
        outputs,
        local_port=args.local_port,
        certificate_file=Path(args.cert_file).expanduser(),
        instance_id=args.instance_id,
        remote_port=args.remote_port,
    )


def run_health(args: argparse.Namespace) -> int:
    from reelsight.client import api_endpoint

    environ = dict(os.environ)
    url = args.url
    if not url and not environ.get(envvars.API_URL):
        # This machine's server: over TLS when it has a certificate, which is then the one to pin.
        own_cert = environ.get(envvars.API_TLS_CERT_FILE, "")
        _, port = listen_address(argparse.Namespace(host=None, port=None), environ)
        url = f"{'https' if own_cert else 'http'}://127.0.0.1:{port}"
        if own_cert and not environ.get(envvars.API_CA_FILE):
            environ[envvars.API_CA_FILE] = own_cert
    endpoint = api_endpoint(environ, url=url)
    answer = endpoint.get("/healthz", timeout=args.timeout)
    print(f"{endpoint.url}: {answer}")
    return 0
