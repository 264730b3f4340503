"""https to the API: the host's boot script makes and publishes the certificate, the server serves it,
and clients (the CLI, Processing jobs' progress reports) pin it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from reelsight import envvars
from reelsight.client import api_endpoint
from reelsight.contract.processing import ProcessingJobDefinition, create_processing_job_request
from reelsight.testing.moto_server import MotoServer, free_port
from reelsight.tls import PENDING_CERTIFICATE, TlsError, get_json
from reelsight.tunnel import verify_when_open
from reelsight.worker.processing import settings_from_environment
from reelsight.worker.progress import ProgressReporter
from tests.api.support import REPO_ROOT, TOKEN, ApiResources
from tests.api.tls_pair import API_NAME, HAS_AWS_CLI, Pair, make_pair, write_conf
from tests.api.viewer_job import job_chain


@pytest.fixture(scope="module")
def host_pair(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return make_pair(tmp_path_factory.mktemp("tls"), "host")


@pytest.fixture(scope="module")
def other_pair(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return make_pair(tmp_path_factory.mktemp("tls-other"), "other")


@dataclass
class TlsApi:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"


@pytest.fixture(scope="module")
def tls_api(
    moto_server: MotoServer,
    api_session_resources: ApiResources,
    host_pair: Pair,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TlsApi]:
    """``reelsight api`` on loopback, configured for TLS as the host's unit configures it (variables)."""
    port = free_port()
    env = {
        **os.environ,
        **moto_server.client_env(),
        **api_session_resources.ensure().env(),
        envvars.API_TOKEN: TOKEN,
        envvars.API_TLS_CERT_FILE: str(host_pair.cert),
        envvars.API_TLS_KEY_FILE: str(host_pair.key),
    }
    log = tmp_path_factory.mktemp("tls-api") / "api.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "reelsight", "api", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = TlsApi(port=port, process=process, log=log)
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, log.read_text()
        try:
            get_json(f"{server.url}/healthz", pinned=host_pair.pinned(), timeout=2)
            break
        except TlsError:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    yield server
    process.terminate()
    process.wait(timeout=10)


# --- the certificate the host makes ------------------------------------------------------------------------


def names_of(cert: Path) -> str:
    return subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-ext", "subjectAltName"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_boot_script_makes_a_pair_for_the_private_name_and_the_tunnel(tmp_path: Path) -> None:
    pair = make_pair(tmp_path, "pair")
    names = names_of(pair.cert)
    assert f"DNS:{API_NAME}" in names and "DNS:localhost" in names and "IP Address:127.0.0.1" in names
    assert pair.key.stat().st_mode & 0o777 == 0o400
    first = pair.pinned().fingerprint
    pair.run()  # a restart keeps the pair
    assert pair.pinned().fingerprint == first
    pair.run("--rotate")
    assert pair.pinned().fingerprint != first
    assert "PRIVATE KEY" not in pair.cert.read_text()


@pytest.mark.skipif(not HAS_AWS_CLI, reason="the boot script publishes with the AWS CLI")
def test_boot_script_publishes_the_certificate_not_the_key(tmp_path: Path, aws_env: MotoServer) -> None:
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/test/api-cert", Type="String", Value=PENDING_CERTIFICATE, Overwrite=True)
    with pytest.raises(TlsError, match="has not published its certificate"):
        api_endpoint({envvars.API_CERT_PARAMETER: "/test/api-cert"}, url="https://localhost:1")
    pair = make_pair(tmp_path, "published", parameter="/test/api-cert")
    published = ssm.get_parameter(Name="/test/api-cert")["Parameter"]["Value"]
    assert published.strip() == pair.cert.read_text().strip()
    assert "PRIVATE KEY" not in published
    endpoint = api_endpoint({envvars.API_CERT_PARAMETER: "/test/api-cert"}, url="https://localhost:1")
    assert endpoint.pinned is not None and endpoint.pinned.fingerprint == pair.pinned().fingerprint


# --- the server and its clients ----------------------------------------------------------------------------


def test_client_pinning_the_host_certificate_reaches_the_api(
    tls_api: TlsApi, host_pair: Pair, api_aws: ApiResources
) -> None:
    environ = {envvars.API_CA_FILE: str(host_pair.cert)}
    for url in (tls_api.url, f"https://127.0.0.1:{tls_api.port}"):  # the tunnel's names
        endpoint = api_endpoint(environ, url=url)
        assert endpoint.get("/healthz")["status"] == "ok"
        assert endpoint.get("/v1/jobs", token=TOKEN)["items"] == []


def test_client_pinning_another_certificate_is_refused_clearly(
    tls_api: TlsApi, host_pair: Pair, other_pair: Pair
) -> None:
    endpoint = api_endpoint({envvars.API_CA_FILE: str(other_pair.cert)}, url=tls_api.url)
    with pytest.raises(TlsError) as caught:
        endpoint.get("/healthz")
    message = str(caught.value)
    assert "did not present the pinned certificate" in message
    assert other_pair.pinned().fingerprint in message and str(other_pair.cert) in message
    assert "fetch the certificate again" in message


def test_client_without_a_pin_does_not_trust_the_host(tls_api: TlsApi) -> None:
    with pytest.raises(TlsError, match=f"does not trust.*{envvars.API_CA_FILE}"):
        api_endpoint({}, url=tls_api.url).get("/healthz")


def test_plain_http_gets_no_answer_from_the_tls_port(tls_api: TlsApi) -> None:
    with pytest.raises(TlsError, match="cannot reach the API"):
        get_json(f"http://127.0.0.1:{tls_api.port}/healthz", pinned=None, timeout=5)


def test_health_command_checks_the_local_tls_server(tls_api: TlsApi, host_pair: Pair) -> None:
    """The API image's HEALTHCHECK: ``reelsight api health`` with the unit's variables."""
    env = {**os.environ, envvars.PORT: str(tls_api.port), envvars.API_TLS_CERT_FILE: str(host_pair.cert)}
    env.pop(envvars.API_URL, None)
    env.pop(envvars.API_CA_FILE, None)
    done = subprocess.run(
        [sys.executable, "-m", "reelsight", "api", "health"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert f"https://127.0.0.1:{tls_api.port}" in done.stdout


def test_health_command_names_a_wrong_certificate(tls_api: TlsApi, other_pair: Pair) -> None:
    env = {**os.environ, envvars.API_URL: tls_api.url, envvars.API_CA_FILE: str(other_pair.cert)}
    done = subprocess.run(
        [sys.executable, "-m", "reelsight", "api", "health"], env=env, capture_output=True, text=True
    )
    assert done.returncode == TlsError.exit_code
    assert "did not present the pinned certificate" in done.stderr and "Traceback" not in done.stderr


def test_tunnel_check_verifies_the_pinned_certificate(
    tls_api: TlsApi, host_pair: Pair, other_pair: Pair
) -> None:
    reports: list[str] = []
    verify_when_open(tls_api.url, host_pair.pinned(), report=reports.append, timeout=10)
    verify_when_open(tls_api.url, other_pair.pinned(), report=reports.append, timeout=10)
    assert "verified against the pinned certificate" in reports[0]
    assert "did not present the pinned certificate" in reports[1]


def test_server_needs_both_tls_files(host_pair: Pair) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "reelsight",
            "api",
            "--port",
            str(free_port()),
            "--tls-cert",
            str(host_pair.cert),
        ],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != envvars.API_TLS_KEY_FILE},
        timeout=60,
    )
    assert done.returncode == 2
    assert "TLS needs both a certificate and a key" in done.stderr


# --- Processing jobs' progress reports ---------------------------------------------------------------------


@pytest.mark.skipif(not HAS_AWS_CLI, reason="the boot script publishes with the AWS CLI")
def test_processing_job_pins_the_published_certificate(
    tls_api: TlsApi,
    host_pair: Pair,
    other_pair: Pair,
    api_aws: ApiResources,
    aws_env: MotoServer,
    tmp_path: Path,
) -> None:
    """The job's environment as the dispatcher builds it, the certificate as the host published it."""
    chain = job_chain(api_aws)
    job_id = chain.processing_started(chain.upload("incoming/long.mp4", route="processing")).job_id
    host_pair.run(conf=write_conf(tmp_path / "publish.env", host_pair.dir, "/test/host-cert"))
    definition = ProcessingJobDefinition(
        role_arn="arn:aws:iam::123456789012:role/processing",
        image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/worker:1",
        instance_type="ml.m5.xlarge",
        results_bucket=api_aws.results_bucket,
        api_url=tls_api.url,
        api_certificate_parameter="/test/host-cert",
    )
    request = create_processing_job_request(
        definition, job_id=job_id, input_location="s3://in/incoming/long.mp4", environment={}
    )
    environment = {**request["Environment"], envvars.API_TOKEN: TOKEN}
    assert environment[envvars.API_CERT_PARAMETER] == "/test/host-cert"
    settings = settings_from_environment(
        {**os.environ, **environment, envvars.RESOURCE_CONFIG: str(tmp_path / "none.json")}, overrides={}
    )
    assert settings.api_certificate is not None
    assert settings.api_certificate.fingerprint == host_pair.pinned().fingerprint
    good = ProgressReporter(
        settings.api_url or "", TOKEN, job_id, min_interval=0, pinned=settings.api_certificate
    )
    good.update("long.mp4", 3, 10)
    good.close()
    bad = ProgressReporter(tls_api.url, TOKEN, job_id, min_interval=0, retries=0, pinned=other_pair.pinned())
    bad.update("long.mp4", 4, 10)
    bad.close()
    assert (good.sent, good.failed, bad.sent, bad.failed) == (1, 0, 0, 1)
