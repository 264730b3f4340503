"""``reelsight api tunnel``: the deployed API and viewer on ``localhost``, through Session Manager.

The API host has no public ingress. The SSM document ``AWS-StartPortForwardingSession`` forwards a
local port to the host's port over the Session Manager channel: ``StartSession`` opens the session,
and AWS's ``session-manager-plugin`` carries the traffic, started with the same arguments as
``aws ssm start-session`` gives it. Before the session opens, the host's TLS certificate is read
from its SSM parameter and written to a file, so clients pin it through ``localhost``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reelsight.errors import ParamError, ReelsightError
from reelsight.tls import PinnedCertificate, TlsError, certificate_from_parameter, get_json

PORT_FORWARDING_DOCUMENT = "AWS-StartPortForwardingSession"
PLUGIN = "session-manager-plugin"
PLUGIN_INSTALL_URL = (
    "https://docs.aws.amazon.com/systems-manager/latest/userguide/"
    "session-manager-working-with-install-plugin.html"
)
# Plugins newer than this read the session (its token included) from this variable instead of argv.
SESSION_RESPONSE_ENV = "AWS_SSM_START_SESSION_RESPONSE"
LAST_PLUGIN_VERSION_WITHOUT_ENV = (1, 2, 497, 0)
# Stack outputs of ReelsightApi (stacks/api_server_stack.py).
INSTANCE_OUTPUT = "ApiInstanceId"
CERTIFICATE_OUTPUT = "ApiCertificateParameter"
URL_OUTPUT = "ApiUrl"
DEFAULT_API_PORT = 8000
_INSTANCE_ID = re.compile(r"^(i|mi)-[0-9a-f]{8,17}$")


class TunnelError(ReelsightError):
    exit_code = 5


@dataclass(frozen=True)
class TunnelTarget:
    """Where the tunnel goes: the API host and its port, and the parameter with its certificate."""

    instance_id: str
    remote_port: int = DEFAULT_API_PORT
    certificate_parameter: str | None = None


def tunnel_target(
    outputs: Mapping[str, str], *, instance_id: str | None = None, remote_port: int | None = None
) -> TunnelTarget:
    """The target from the stacks' outputs; ``instance_id`` and ``remote_port`` override them."""
    instance = instance_id or outputs.get(INSTANCE_OUTPUT)
    if not instance:
        raise TunnelError(
            f"no API host found: the stacks have no {INSTANCE_OUTPUT} output (is ReelsightApi deployed?); "
            "give the instance id with --instance-id"
        )
    if not _INSTANCE_ID.match(instance):
        raise ParamError(f"not an EC2 instance id: {instance!r}")
    port = remote_port or urlsplit(outputs.get(URL_OUTPUT) or "").port or DEFAULT_API_PORT
    return TunnelTarget(
        instance_id=instance,
        remote_port=port,
        certificate_parameter=outputs.get(CERTIFICATE_OUTPUT) or None,
    )


def start_session_request(target: TunnelTarget, local_port: int) -> dict[str, Any]:
    """The StartSession request: forward ``localhost:local_port`` to the host's API port."""
    return {
        "Target": target.instance_id,
        "DocumentName": PORT_FORWARDING_DOCUMENT,
        "Parameters": {"portNumber": [str(target.remote_port)], "localPortNumber": [str(local_port)]},
    }


def plugin_passes_session_in_env(version: str) -> bool:
    text = re.sub(r"\s+", "", version)
    if not re.fullmatch(r"\d+(\.\d+){0,3}", text):
        return False
    parts = [int(part) for part in text.split(".")]
    return tuple(parts + [0] * (4 - len(parts))) > LAST_PLUGIN_VERSION_WITHOUT_ENV


def plugin_command(
    plugin: str,
    *,
    plugin_version: str,
    response: Mapping[str, Any],
    request: Mapping[str, Any],
    region: str,
    profile: str | None,
    endpoint_url: str,
) -> tuple[list[str], dict[str, str]]:
    """The plugin's arguments and extra environment, in the order ``aws ssm start-session`` uses:
    session, region, ``StartSession``, profile (or empty), the request as JSON, the SSM endpoint."""
    session = json.dumps({key: response[key] for key in ("SessionId", "TokenValue", "StreamUrl")})
    env: dict[str, str] = {}
    if plugin_passes_session_in_env(plugin_version):
        env[SESSION_RESPONSE_ENV] = session
        session = SESSION_RESPONSE_ENV
    argv = [plugin, session, region, "StartSession", profile or "", json.dumps(request), endpoint_url]
    return argv, env


def find_plugin() -> tuple[str, str]:
    """The plugin's path and version; TunnelError, saying how to install it, when it is missing."""
    plugin = shutil.which(PLUGIN)
    if plugin is None:
        raise TunnelError(
            f"{PLUGIN} is not installed (or not on PATH); the tunnel needs AWS's Session Manager plugin: "
            f"{PLUGIN_INSTALL_URL}"
        )
    try:
        done = subprocess.run([plugin, "--version"], capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError) as error:
        raise TunnelError(f"{plugin} --version failed: {error}") from None
    return plugin, done.stdout.strip()


def save_certificate(ssm: Any, target: TunnelTarget, path: Path) -> PinnedCertificate | None:
    """The host's certificate, read from its parameter and written to ``path``; None without one."""
    if not target.certificate_parameter:
        return None
    pinned = certificate_from_parameter(ssm, target.certificate_parameter)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(pinned.pem.strip() + "\n", encoding="ascii")
    return PinnedCertificate(path.read_text(encoding="ascii"), source=str(path))


@contextmanager
def _user_signals_to_plugin() -> Iterator[None]:
    """Ctrl-C and friends reach the plugin (same process group), which ends the session itself."""
    names = [name for name in ("SIGINT", "SIGQUIT", "SIGTSTP") if hasattr(signal, name)]
    saved = {name: signal.signal(getattr(signal, name), signal.SIG_IGN) for name in names}
    try:
        yield
    finally:
        for name, handler in saved.items():
            signal.signal(getattr(signal, name), handler)


def run_plugin(ssm: Any, session_id: str, argv: list[str], env: Mapping[str, str]) -> int:
    """Run the plugin until the session ends; ends the session when the plugin cannot start."""
    try:
        with _user_signals_to_plugin():
            return subprocess.call(argv, env={**os.environ, **env})
    except OSError as error:
        ssm.terminate_session(SessionId=session_id)  # else the agent keeps it open until it times out
        raise TunnelError(f"cannot run {argv[0]}: {error}") from None


def verify_when_open(
    url: str, pinned: PinnedCertificate | None, *, report: Callable[[str], None], timeout: float = 60.0
) -> None:
    """Wait for the local end of the tunnel, then check the API through it over pinned TLS."""
    parts = urlsplit(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((parts.hostname or "localhost", parts.port or 443), timeout=1):
                break
        except OSError:
            time.sleep(0.5)
    else:
        report(f"the tunnel did not open {url} within {timeout:.0f}s")
        return
    try:
        get_json(f"{url}/healthz", pinned=pinned, timeout=10)
    except (TlsError, OSError) as error:
        report(f"check of {url}/healthz failed: {error}")
        return
    report(f"{url}/healthz answered over TLS verified against the pinned certificate")


def describe(target: TunnelTarget, url: str, pinned: PinnedCertificate | None) -> list[str]:
    lines = [
        f"forwarding {url} to port {target.remote_port} of the API host {target.instance_id} "
        "through Session Manager (stop with Ctrl-C)",
        f"  viewer: {url}/",
    ]
    if pinned is not None:
        lines += [
            f"  certificate: {pinned.source} (sha256 {pinned.fingerprint})",
            f"  for the CLI: export REELSIGHT_API_URL={url} REELSIGHT_API_CA_FILE={pinned.source}",
            "  browsers do not know this certificate: import it, or accept it once the fingerprint matches",
        ]
    return lines


def open_tunnel(
    session: Any,
    outputs: Mapping[str, str],
    *,
    local_port: int,
    certificate_file: Path,
    instance_id: str | None = None,
    remote_port: int | None = None,
    report: Callable[[str], None] = print,
    verify_timeout: float = 60.0,
) -> int:
    """Open the tunnel with a boto3 ``session``; returns the plugin's exit status when it ends."""
    target = tunnel_target(outputs, instance_id=instance_id, remote_port=remote_port)
    plugin, version = find_plugin()  # before StartSession, so a missing plugin leaves no open session
    ssm = session.client("ssm")
    pinned = save_certificate(ssm, target, certificate_file)
    request = start_session_request(target, local_port)
    try:
        response = ssm.start_session(**request)
    except Exception as error:
        raise TunnelError(f"StartSession on {target.instance_id} failed: {error}") from None
    argv, env = plugin_command(
        plugin,
        plugin_version=version,
        response=response,
        request=request,
        region=ssm.meta.region_name,
        profile=session.profile_name if session.profile_name != "default" else None,
        endpoint_url=ssm.meta.endpoint_url,
    )
    url = f"https://localhost:{local_port}"
    for line in describe(target, url, pinned):
        report(line)
    checker = threading.Thread(
        target=verify_when_open,
        args=(url, pinned),
        kwargs={"report": report, "timeout": verify_timeout},
        name="tunnel-check",
        daemon=True,
    )
    checker.start()
    return run_plugin(ssm, response["SessionId"], argv, env)
