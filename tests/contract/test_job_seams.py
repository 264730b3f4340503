"""The jobs table's producers against its readers, on the moto server.

The real dispatcher records an upload, the real results handler records what the local async
endpoint notifies, and the API's job view and ``reelsight status`` read the result: every reader sees
the same statuses, times and fields the producers wrote, in the contract's one format.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lambdas.results.messages import parse_async_notification
from lambdas.results.updater import STALE, apply_result
from reelsight import envvars
from reelsight.api.app import ApiSettings, create_app
from reelsight.api_token import token_source_from_env
from reelsight.cli import main as cli_main
from reelsight.contract.jobs import JobRecord, JobStatus
from reelsight.contract.names import ASYNC_OUTPUT_PATH, s3_uri
from reelsight.contract.summary import RunSummary
from reelsight.local.async_endpoint import failure_notification
from reelsight.worker.config import DEFAULT_MAX_RESPONSE_BYTES
from reelsight.worker.handler import output_fn
from tests.api.support import ApiResources
from tests.contract.job_chain import ENDPOINT_NAME, JobChain

TOKEN = "seam-token-0123456789abcdef"
ONE_FORMAT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
TIME_FIELDS = ("created_at", "updated_at", "submitted_at", "uploaded_at", "finished_at")


@pytest.fixture()
def api(resources: ApiResources) -> Iterator[TestClient]:
    settings = ApiSettings(
        jobs_table=resources.table,
        results_bucket=resources.results_bucket,
        input_bucket=resources.input_bucket,
    )
    app = create_app(settings, token_source=token_source_from_env({envvars.API_TOKEN: TOKEN}))
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client


def cli_status(
    resources: ApiResources, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> str:
    """``reelsight status ARGS`` against the deployed-stack names the environment gives."""
    monkeypatch.setenv(envvars.INPUT_BUCKET, resources.input_bucket)
    monkeypatch.setenv(envvars.RESULTS_BUCKET, resources.results_bucket)
    monkeypatch.setenv(envvars.JOBS_TABLE, resources.table)
    capsys.readouterr()
    assert cli_main(["status", *args, "--target", "aws"]) == 0
    return capsys.readouterr().out


def succeed(chain: JobChain, job: JobRecord, tmp_path: Path) -> JobRecord:
    """The worker's answer for ``job``, written where the endpoint puts it, then the success notification."""
    summary = RunSummary(model={"name": "fasterrcnn"}, frames_sampled=3, detections_total=5)
    summary.counts_per_class = {"car": 4, "person": 1}
    body = output_fn(
        summary, tmp_path, job_id=job.job_id, store=None, max_response_bytes=DEFAULT_MAX_RESPONSE_BYTES
    )
    key = f"{ASYNC_OUTPUT_PATH}/{uuid.uuid4()}.out"
    chain.s3.put_object(Bucket=chain.results_bucket, Key=key, Body=body)
    return chain.complete_async(job, s3_uri(chain.results_bucket, key))


def test_a_dispatched_job_succeeds_and_every_reader_sees_what_the_producers_wrote(
    chain: JobChain,
    resources: ApiResources,
    api: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    queued = chain.upload("incoming/seams/clip one.mp4", fps="2")
    assert queued.status is JobStatus.QUEUED and queued.route == "async"
    assert queued.inference_id == queued.job_id and queued.params == {"fps": "2"}
    assert [entry["status"] for entry in queued.status_history or []] == ["QUEUED"]

    done = succeed(chain, queued, tmp_path)
    assert done.status is JobStatus.SUCCEEDED
    assert [entry["status"] for entry in done.status_history or []] == ["QUEUED", "SUCCEEDED"]
    assert done.summary is not None and done.summary["frames_sampled"] == 3
    assert set(done.durations or {}) == {"total_seconds", "endpoint_seconds"}
    assert done.extra == {}, "the producers wrote attributes the contract does not name"
    stamps = [getattr(done, name) for name in TIME_FIELDS] + [e["at"] for e in done.status_history or []]
    assert all(ONE_FORMAT.match(str(stamp)) for stamp in stamps), stamps

    # The API's view: the same record, times untouched.
    view = api.get(f"/v1/jobs/{done.job_id}")
    assert view.status_code == 200, view.text
    shown = view.json()
    assert shown["status"] == "SUCCEEDED"
    assert (shown["created_at"], shown["updated_at"]) == (done.created_at, done.updated_at)
    assert shown["status_history"] == done.status_history
    assert shown["summary"]["frames_sampled"] == 3 and shown["progress"]["fraction"] == 1.0
    assert shown["extra"]["finished_at"] == done.finished_at
    listed = api.get("/v1/jobs", params={"status": "succeeded"}).json()["items"]
    assert [item["job_id"] for item in listed] == [done.job_id]
    assert api.get("/v1/jobs", params={"status": "QUEUED"}).json()["items"] == []
    assert api.get("/v1/jobs", params={"status": "paused"}).status_code == 400

    # ``reelsight status``: the record as stored, one job and the table of recent ones.
    as_json = json.loads(cli_status(resources, monkeypatch, capsys, done.job_id, "--json"))
    assert as_json == json.loads(json.dumps(done.to_item()))
    text = cli_status(resources, monkeypatch, capsys, done.job_id)
    assert re.search(r"^status\s+SUCCEEDED$", text, re.M), text
    assert f"  {done.created_at}  QUEUED\n  {done.finished_at}  SUCCEEDED\n" in text
    table = cli_status(resources, monkeypatch, capsys)
    row = rf"^{done.job_id}\s+SUCCEEDED\s+{re.escape(str(done.created_at))}\s+clip one\.mp4$"
    assert re.search(row, table, re.M), table


def test_an_ended_job_never_moves_again(chain: JobChain, api: TestClient, tmp_path: Path) -> None:
    done = succeed(chain, chain.upload("incoming/seams/late.mp4"), tmp_path)
    late_error = failure_notification(ENDPOINT_NAME, chain.async_request(done), "a late error")
    applied = apply_result(
        parse_async_notification(late_error), settings=chain.settings(), clients=chain.clients()
    )
    assert (applied.action, applied.status) == (STALE, JobStatus.SUCCEEDED)
    assert chain.job(done.job_id) == done

    progress = api.post(f"/v1/jobs/{done.job_id}/progress", json={"video": "late.mp4", "frames_done": 3})
    assert progress.status_code == 409 and "has ended (SUCCEEDED)" in progress.json()["detail"]
    assert chain.job(done.job_id) == done


def test_a_processing_job_reports_progress_until_it_ends(chain: JobChain, api: TestClient) -> None:
    running = chain.processing_started(chain.upload("incoming/seams/long.mp4", route="processing"))
    assert running.status is JobStatus.RUNNING and running.route == "processing"
    assert [entry["status"] for entry in running.status_history or []] == ["QUEUED", "RUNNING"]
    url = f"/v1/jobs/{running.job_id}/progress"
    first = api.post(url, json={"video": "long.mp4", "frames_done": 10, "frames_total": 40})
    assert first.status_code == 200 and first.json()["applied"] is True
    assert api.post(url, json={"video": "long.mp4", "frames_done": 10}).json()["applied"] is False
    assert api.post(url, json={"video": "long.mp4", "frames_done": 5}).status_code == 409
    shown = api.get(f"/v1/jobs/{running.job_id}").json()
    assert shown["status"] == "RUNNING" and shown["progress"]["fraction"] == 0.25
    stored = chain.job(running.job_id).progress or {}
    assert ONE_FORMAT.match(stored["long.mp4"]["updated_at"])


def test_an_upload_that_is_not_a_video_is_created_rejected(chain: JobChain, api: TestClient) -> None:
    rejected = chain.upload("incoming/seams/notes.txt")
    assert rejected.status is JobStatus.REJECTED and rejected.terminal and rejected.reason
    assert [entry["status"] for entry in rejected.status_history or []] == ["REJECTED"]
    shown: dict[str, Any] = api.get(f"/v1/jobs/{rejected.job_id}").json()
    assert (shown["status"], shown["reason"]) == ("REJECTED", rejected.reason)


def test_the_viewer_fixture_is_this_chain(resources: ApiResources, api: TestClient, tmp_path: Path) -> None:
    """tests/api/test_viewer_browser.py's jobs, as the API shows them (that test needs Chromium)."""
    from tests.api.viewer_job import seed_viewer_job

    seeded = seed_viewer_job(resources, tmp_path)
    items = api.get("/v1/jobs").json()["items"]
    by_id = {item["job_id"]: item for item in items}
    assert by_id[seeded.job_id]["status"] == "SUCCEEDED"
    assert by_id[seeded.failed_job_id]["status"] == "FAILED"
    assert by_id[seeded.failed_job_id]["reason"] == "not a video: no video stream"
    running = by_id[seeded.running_job_id]
    assert running["status"] == "RUNNING" and running["progress"]["fraction"] == 0.42
    assert max(items, key=lambda item: item["created_at"])["job_id"] == seeded.running_job_id
    detail = api.get(f"/v1/jobs/{seeded.job_id}").json()
    assert detail["summary"]["frames_sampled"] == len(seeded.boxes_per_frame)
