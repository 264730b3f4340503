"""Property-based requests from the published OpenAPI schema (schemathesis) against the real server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.api.support import TOKEN, ApiResources, ApiServer
from tests.api.viewer_job import job_chain

# Every check but one: "positive_data_acceptance" expects any schema-valid input to succeed, which an
# opaque paging token or frames_done <= frames_total (a rule across two fields) cannot promise.
EXCLUDED = "positive_data_acceptance"


def test_schema_fuzzing_finds_no_server_errors(
    start_api: Callable[..., ApiServer], api_aws: ApiResources, artifacts_dir: Path, tmp_path: Path
) -> None:
    # Its own server: unauthenticated probes must not lock the address out of the other tests.
    server = start_api(REELSIGHT_API_AUTH_FAILURES_PER_MINUTE="1000000")
    job_chain(api_aws).upload("incoming/fuzzed.mp4")  # one job, as the dispatcher records it
    st = Path(sys.executable).with_name("st")
    answer = subprocess.run(
        [
            str(st), "run", f"{server.url}/openapi.json",
            "--header", f"Authorization: Bearer {TOKEN}",
            "--checks", "all",
            "--exclude-checks", EXCLUDED,
            "--max-examples", "12",
            "--seed", "20261122",
            "--workers", "2",
            "--request-timeout", "10",
            "--generation-database", "none",
            "--no-color",
            "--report", "junit",
            "--report-junit-path", str(artifacts_dir / "schemathesis-api.xml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # schemathesis keeps a cache in ./.schemathesis
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )  # fmt: skip
    assert answer.returncode == 0, answer.stdout[-6000:] + answer.stderr[-2000:]
    assert "5xx" not in answer.stdout
