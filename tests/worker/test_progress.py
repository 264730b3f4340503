"""The progress reporter against a real loopback HTTP server (and against no server at all)."""

from __future__ import annotations

import time

from reelsight.testing.moto_server import free_port
from reelsight.worker.progress import ProgressReporter

from .conftest import RecordingServer


def test_reports_are_throttled_authorised_and_final(recording_server: RecordingServer) -> None:
    reporter = ProgressReporter(recording_server.url, "tok-1", "job/7", min_interval=60)
    for done in range(1, 51):
        reporter.update("a.mp4", done, 50)
    reporter.update("b.mp4", 1, None)
    reporter.update("a.mp4", 50, 50, final=True)
    reporter.close()
    assert reporter.sent == 3 and reporter.failed == 0
    first = recording_server.requests[0]
    assert first.path == "/v1/jobs/job%2F7/progress"
    assert first.headers["Authorization"] == "Bearer tok-1"
    assert recording_server.posts_for("a.mp4") == [
        {"video": "a.mp4", "frames_done": 1, "frames_total": 50},
        {"video": "a.mp4", "frames_done": 50, "frames_total": 50},
    ]
    assert recording_server.posts_for("b.mp4") == [{"video": "b.mp4", "frames_done": 1, "frames_total": None}]


def test_server_errors_are_retried_then_given_up(recording_server: RecordingServer) -> None:
    recording_server.status = 503
    reporter = ProgressReporter(recording_server.url, "t", "j", retries=2, backoff=0.01)
    reporter.update("a.mp4", 1, 2)
    reporter.close()
    assert len(recording_server.requests) == 3
    assert (reporter.sent, reporter.failed) == (0, 1)


def test_client_errors_are_not_retried(recording_server: RecordingServer) -> None:
    recording_server.status = 401
    reporter = ProgressReporter(recording_server.url, "bad", "j", retries=2, backoff=0.01)
    reporter.update("a.mp4", 1, 2)
    reporter.close()
    assert len(recording_server.requests) == 1 and reporter.failed == 1


def test_an_absent_api_never_blocks_or_raises() -> None:
    reporter = ProgressReporter(f"http://127.0.0.1:{free_port()}", "t", "j", retries=1, backoff=0.01)
    started = time.monotonic()
    for i in range(1000):
        reporter.update(f"v{i % 3}.mp4", i, 1000)
    assert time.monotonic() - started < 5  # updates only queue; the posting thread absorbs failures
    reporter.close(wait=20)
    assert reporter.sent == 0 and reporter.failed >= 3


def test_processing_reads_the_api_token_from_secrets_manager(aws_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """In AWS the job gets the secret's ARN, never the token itself, and resolves it at start."""
    import boto3

    from reelsight import envvars
    from reelsight.worker.processing import settings_from_environment

    token = "t" * 40
    arn = boto3.client("secretsmanager").create_secret(Name=f"api-token-{tmp_path.name}", SecretString=token)[
        "ARN"
    ]
    environ = {
        **aws_env.client_env(),
        envvars.RESOURCE_CONFIG: str(tmp_path / "missing-resourceconfig.json"),
        envvars.JOB_CONFIG: str(tmp_path / "missing-jobconfig.json"),
        envvars.API_URL: "http://127.0.0.1:9",
        envvars.API_TOKEN_SECRET_ARN: arn,
    }
    settings = settings_from_environment(
        environ, overrides={}, input_dir=str(tmp_path), output_dir=str(tmp_path)
    )
    assert settings.api_token == token

    environ[envvars.API_TOKEN_SECRET_ARN] = arn + "-gone"
    settings = settings_from_environment(
        environ, overrides={}, input_dir=str(tmp_path), output_dir=str(tmp_path)
    )
    assert settings.api_token is None  # progress off, the job still runs
