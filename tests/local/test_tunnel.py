"""``reelsight api tunnel``: the StartSession request it builds and the plugin command it runs.

The stack's outputs and the certificate parameter live on the moto server. moto has no StartSession
or TerminateSession, so those two calls are answered at the boto3 level, and the plugin is a
recording stand-in on PATH: the request and the plugin's arguments are asserted exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from reelsight import envvars
from reelsight.client import stack_outputs
from reelsight.testing.moto_server import MotoServer
from reelsight.tunnel import SESSION_RESPONSE_ENV, TunnelError, open_tunnel, plugin_passes_session_in_env
from tests.api.tls_pair import make_pair

INSTANCE = "i-0123456789abcdef0"
SESSION = {"SessionId": "alice-0a1b2c3d", "TokenValue": "session-token-secret", "StreamUrl": "wss://ssm/s"}


@dataclass
class FakeSsm:
    """StartSession and TerminateSession answered before they leave boto3; every call recorded."""

    started: list[dict[str, Any]] = field(default_factory=list)
    terminated: list[dict[str, Any]] = field(default_factory=list)

    def install(self, session: boto3.session.Session) -> None:
        session.events.register("before-parameter-build.ssm.StartSession", self._record(self.started))
        session.events.register("before-parameter-build.ssm.TerminateSession", self._record(self.terminated))
        session.events.register("before-call.ssm.StartSession", self._answer(SESSION))
        session.events.register("before-call.ssm.TerminateSession", self._answer({"SessionId": "x"}))

    @staticmethod
    def _record(calls: list[dict[str, Any]]) -> Any:
        def record(params: dict[str, Any], **_: Any) -> None:
            calls.append(dict(params))

        return record

    @staticmethod
    def _answer(parsed: dict[str, Any]) -> Any:
        def answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
            return AWSResponse("https://ssm.us-east-1.amazonaws.com/", 200, {}, None), dict(parsed)

        return answer


@pytest.fixture()
def deployed(aws_env: MotoServer, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A ReelsightApi stack on moto with the outputs the CDK app declares, the certificate published."""
    cert = make_pair(tmp_path, "host").cert.read_text()
    template = {
        "Resources": {
            "Certificate": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Name": "/t/api-cert", "Type": "String", "Value": cert},
            }
        },
        "Outputs": {
            "ApiInstanceId": {"Value": INSTANCE},
            "ApiCertificateParameter": {"Value": {"Ref": "Certificate"}},
            "ApiUrl": {"Value": "https://api.reelsight.internal:8443"},
        },
    }
    cfn = boto3.client("cloudformation")
    cfn.create_stack(StackName="ReelsightApi", TemplateBody=json.dumps(template))
    yield stack_outputs(boto3.session.Session(), "reelsight")
    cfn.delete_stack(StackName="ReelsightApi")


def fake_plugin(bin_dir: Path, version: str, *, vanish: bool = False) -> Path:
    """A stand-in session-manager-plugin: prints ``version``, then records its argv and environment."""
    bin_dir.mkdir(exist_ok=True)
    record = bin_dir / "record.json"
    plugin = bin_dir / "session-manager-plugin"
    remove = f'rm -f "{plugin}"' if vanish else "true"  # gone before the session's run: exec fails
    plugin.write_text(
        "#!/bin/bash\n"
        f'if [ "$1" = "--version" ]; then echo "{version}"; {remove}; exit 0; fi\n'
        f'exec {sys.executable} -c \'import json, os, sys; json.dump({{"argv": sys.argv[1:], '
        f'"session": os.environ.get("{SESSION_RESPONSE_ENV}")}}, open("{record}", "w"))\' "$@"\n'
    )
    plugin.chmod(0o755)
    return record


def tunnel(
    outputs: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: Any
) -> tuple[int, FakeSsm, list[str]]:
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin")
    session = boto3.session.Session()
    ssm = FakeSsm()
    ssm.install(session)
    reports: list[str] = []
    code = open_tunnel(
        session,
        outputs,
        local_port=9001,
        certificate_file=tmp_path / "saved" / "api.pem",
        report=reports.append,
        verify_timeout=0.5,
        **kwargs,
    )
    return code, ssm, reports


def test_tunnel_starts_port_forwarding_to_the_api_host(
    deployed: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws_env: MotoServer
) -> None:
    record = fake_plugin(tmp_path / "bin", "1.2.707.0")
    code, ssm, reports = tunnel(deployed, tmp_path, monkeypatch)
    request = {
        "Target": INSTANCE,
        "DocumentName": "AWS-StartPortForwardingSession",
        "Parameters": {"portNumber": ["8443"], "localPortNumber": ["9001"]},
    }
    assert code == 0 and ssm.started == [request] and ssm.terminated == []
    ran = json.loads(record.read_text())
    # As `aws ssm start-session` runs it: the session through the environment, never in argv.
    assert ran["argv"] == [
        SESSION_RESPONSE_ENV,
        "us-east-1",
        "StartSession",
        "",
        json.dumps(request),
        aws_env.url,
    ]
    assert json.loads(ran["session"]) == SESSION
    assert "session-token-secret" not in " ".join(ran["argv"] + reports)
    # The certificate clients pin through localhost, saved from the parameter the host published.
    saved = (tmp_path / "saved" / "api.pem").read_text()
    parameter = boto3.client("ssm").get_parameter(Name=deployed["ApiCertificateParameter"])["Parameter"]
    assert saved.strip() == parameter["Value"].strip()
    text = "\n".join(reports)
    assert (
        "https://localhost:9001" in text and f"{envvars.API_CA_FILE}={tmp_path / 'saved' / 'api.pem'}" in text
    )


def test_older_plugins_get_the_session_as_the_first_argument(
    deployed: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = fake_plugin(tmp_path / "bin", "1.2.497.0")
    tunnel(deployed, tmp_path, monkeypatch, instance_id="i-00000000000000001", remote_port=8000)
    argv = json.loads(record.read_text())["argv"]
    assert json.loads(argv[0]) == SESSION
    assert json.loads(argv[4])["Target"] == "i-00000000000000001"
    assert json.loads(argv[4])["Parameters"]["portNumber"] == ["8000"]


def test_missing_plugin_is_named_and_no_session_is_opened(
    deployed: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(TunnelError, match="session-manager-plugin is not installed.*session-manager-working"):
        _, ssm, _ = tunnel(deployed, tmp_path, monkeypatch)
    monkeypatch.setenv("PATH", f"/usr/bin{os.pathsep}/bin")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "reelsight",
            "api",
            "tunnel",
            "--instance-id",
            INSTANCE,
            "--remote-port",
            "8000",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == TunnelError.exit_code
    assert "session-manager-plugin is not installed" in done.stderr and "Traceback" not in done.stderr


def test_a_plugin_that_cannot_run_ends_the_session(
    deployed: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_plugin(tmp_path / "bin", "1.2.707.0", vanish=True)
    session = boto3.session.Session()
    ssm = FakeSsm()
    ssm.install(session)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}/usr/bin")
    with pytest.raises(TunnelError, match="cannot run"):
        open_tunnel(
            session, deployed, local_port=9001, certificate_file=tmp_path / "c.pem", report=lambda _: None
        )
    assert ssm.terminated == [{"SessionId": SESSION["SessionId"]}]


def test_no_api_host_in_the_outputs_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_plugin(tmp_path / "bin", "1.2.707.0")
    with pytest.raises(TunnelError, match="no API host found.*--instance-id"):
        tunnel({}, tmp_path, monkeypatch)


@pytest.mark.parametrize(
    ("version", "in_env"),
    [("1.2.497.0", False), ("1.2.498.0", True), ("1.2.707.0\n", True), ("1.2", False), ("unknown", False)],
)
def test_plugin_version_decides_how_the_session_is_passed(version: str, in_env: bool) -> None:
    assert plugin_passes_session_in_env(version) is in_env
