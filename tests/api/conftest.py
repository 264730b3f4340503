"""API servers (real uvicorn subprocesses on loopback) against the session's moto server."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from reelsight.testing.moto_server import MotoServer
from tests.api.support import ApiResources, ApiServer, start_server


@pytest.fixture(scope="session")
def api_names() -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return {
        "table": f"reelsight-api-jobs-{suffix}",
        "results_bucket": f"reelsight-api-results-{suffix}",
        "input_bucket": f"reelsight-api-input-{suffix}",
    }


def _resources(moto: MotoServer, names: dict[str, str]) -> ApiResources:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    return ApiResources(
        **names,
        dynamodb=session.client("dynamodb", endpoint_url=moto.url),
        s3=session.client("s3", endpoint_url=moto.url),
    )


@pytest.fixture(scope="session")
def api_session_resources(moto_server: MotoServer, api_names: dict[str, str]) -> ApiResources:
    return _resources(moto_server, api_names)


@pytest.fixture()
def api_aws(api_session_resources: ApiResources) -> ApiResources:
    """The API's table and buckets on the moto server, with an empty jobs table."""
    resources = api_session_resources.ensure()
    resources.clear_jobs()
    return resources


@pytest.fixture(scope="session")
def start_api(
    moto_server: MotoServer, api_names: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., ApiServer]]:
    """Start an extra API server with environment overrides (stopped at the end of the session)."""
    servers: list[ApiServer] = []
    log_dir = tmp_path_factory.mktemp("api-logs")

    def start(**options: Any) -> ApiServer:
        resources = _resources(moto_server, api_names).ensure()
        server = start_server(moto_server, resources, log_dir, **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def api_server(start_api: Callable[..., ApiServer]) -> ApiServer:
    """The main API server of the session (default limits)."""
    return start_api()
