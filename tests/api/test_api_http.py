"""The API over HTTP: a real uvicorn server on loopback against the moto server."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from reelsight.contract.jobs import JobRecord, JobsTable, JobStatus
from reelsight.contract.names import FRAMES_FILE, SUMMARY_FILE
from reelsight.params import RunOptions, SamplingParams
from reelsight.pipeline import run_video
from reelsight.results import RunSummary, Timings, read_frames_jsonl
from reelsight.testing.videos import write_video
from tests.api.support import TOKEN, ApiResources, ApiServer, live
from tests.api.viewer_job import FinishedJob, finish_async_job, job_chain

BASE = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def stamp(minutes: int) -> str:
    """An ISO 8601 UTC timestamp in the dispatcher's format (milliseconds, Z)."""
    moment = BASE + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def seed_jobs(
    api_aws: ApiResources, count: int, status: Callable[[int], str] = lambda i: "SUCCEEDED"
) -> list[str]:
    """Jobs created a minute apart, through the table's contract (the producers stamp the present)."""
    table = JobsTable(api_aws.dynamodb, api_aws.table)
    ids = []
    for i in range(count):
        job_id = f"{i:04d}" + "a" * 28
        record = JobRecord(
            job_id=job_id,
            status=JobStatus(status(i)),
            route="async",
            source=f"s3://in/incoming/video{i}.mp4",
            created_at=stamp(i),
            updated_at=stamp(i),
        )
        assert table.create(record)
        ids.append(job_id)
    return ids


def running_processing_job(api_aws: ApiResources) -> str:
    """A Processing job the dispatcher started and EventBridge reported running."""
    chain = job_chain(api_aws)
    return chain.processing_started(chain.upload("incoming/long.mp4", route="processing")).job_id


def all_pages(client: httpx.Client, **params: Any) -> list[list[dict]]:
    pages, query = [], {k: v for k, v in params.items() if v is not None}
    for _ in range(50):
        answer = client.get("/v1/jobs", params=query)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages.append(body["items"])
        if not body["next"]:
            return pages
        query["next"] = body["next"]
    raise AssertionError("paging did not end")


# --- auth ---


def test_healthz_needs_no_token(api_server: ApiServer) -> None:
    answer = httpx.get(f"{api_server.url}/healthz")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({}, None),
        ({"Authorization": "Bearer wrong-token-0123456789"}, "invalid_token"),
        ({"Authorization": f"Basic {TOKEN}"}, None),
    ],
)
def test_v1_refuses_missing_or_wrong_token(
    api_server: ApiServer, api_aws: ApiResources, headers: dict[str, str], error: str | None
) -> None:
    answer = httpx.get(f"{api_server.url}/v1/jobs", headers=headers)
    assert answer.status_code == 401
    challenge = answer.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer")
    assert (f'error="{error}"' in challenge) == bool(error)
    assert "token" in answer.json()["detail"]


def test_right_token_is_accepted(api_server: ApiServer, api_aws: ApiResources) -> None:
    answer = api_server.client().get("/v1/jobs")
    assert answer.status_code == 200
    assert answer.json() == {"items": [], "next": None}


def test_failed_attempts_are_rate_limited_per_address(
    start_api: Callable[..., ApiServer], api_aws: ApiResources
) -> None:
    server = start_api(REELSIGHT_API_AUTH_FAILURES_PER_MINUTE="3")
    wrong = server.client("not-the-token-at-all")
    for _ in range(3):
        assert wrong.get("/v1/jobs").status_code == 401
    limited = wrong.get("/v1/jobs")
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 61
    # Once blocked, even the right token waits: guessing must not continue.
    assert server.client().get("/v1/jobs").status_code == 429
    # Missing tokens are not guesses and do not count; health stays open.
    assert httpx.get(f"{server.url}/healthz").status_code == 200


# --- listing ---


def test_paging_returns_every_job_once(api_server: ApiServer, api_aws: ApiResources) -> None:
    ids = seed_jobs(api_aws, 23)
    pages = all_pages(api_server.client(), limit=10)
    assert [len(p) for p in pages] == [10, 10, 3]
    listed = [item["job_id"] for page in pages for item in page]
    assert sorted(listed) == sorted(ids)


def test_status_filter_uses_index_newest_first(api_server: ApiServer, api_aws: ApiResources) -> None:
    seed_jobs(api_aws, 12, status=lambda i: "FAILED" if i % 3 == 0 else "SUCCEEDED")
    pages = all_pages(api_server.client(), status="failed", limit=3)
    items = [item for page in pages for item in page]
    assert [item["status"] for item in items] == ["FAILED"] * 4
    created = [item["created_at"] for item in items]
    assert created == sorted(created, reverse=True)
    assert created[0] == stamp(9)  # as the writer stored it


@pytest.mark.parametrize("status", [None, "SUCCEEDED"])
def test_time_window_filters(api_server: ApiServer, api_aws: ApiResources, status: str | None) -> None:
    seed_jobs(api_aws, 10)
    pages = all_pages(
        api_server.client(),
        status=status,
        limit=2,
        since="2026-11-01T12:03:00Z",
        until="2026-11-01T13:06:00+01:00",
    )
    created = sorted(item["created_at"] for page in pages for item in page)
    assert created == [stamp(m) for m in range(3, 7)]


def test_bad_list_parameters(api_server: ApiServer, api_aws: ApiResources) -> None:
    client = api_server.client()
    seed_jobs(api_aws, 3)
    assert (
        client.get(
            "/v1/jobs", params={"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"}
        ).status_code
        == 400
    )
    assert client.get("/v1/jobs", params={"next": "bm90LWEtdG9rZW4"}).status_code == 400
    assert client.get("/v1/jobs", params={"limit": 0}).status_code == 422
    assert client.get("/v1/jobs", params={"limit": 101}).status_code == 422
    assert client.get("/v1/jobs", params={"since": "yesterday"}).status_code == 422
    scan_next = client.get("/v1/jobs", params={"limit": 1}).json()["next"]
    assert scan_next
    # A scan token cannot continue an index query.
    answer = client.get("/v1/jobs", params={"limit": 1, "status": "SUCCEEDED", "next": scan_next})
    assert answer.status_code == 400
    assert "next" in answer.json()["detail"]


# --- one job ---


@pytest.fixture(scope="module")
def ssdlite_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunSummary]:
    """A real run: ssdlite with random weights on a tiny clip, frames and contact sheet included."""
    base = tmp_path_factory.mktemp("ssdlite")
    clip = write_video(base / "clip.mp4", seconds=2, fps=5, width=96, height=64, gop=5)
    options = RunOptions(
        model="ssdlite",
        weights="random",
        sampling=SamplingParams(fps=1.0),
        include=frozenset({"contact_sheet", "frames"}),
    )
    summary = run_video(
        clip.path, options=options, out_dir=base / "run", video_uri="s3://in/incoming/clip.mp4"
    )
    return base / "run", summary


def finished_ssdlite_job(
    api_aws: ApiResources, ssdlite_run: tuple[Path, RunSummary], tmp_path: Path
) -> FinishedJob:
    """The run, dispatched, answered by the worker's output_fn and recorded by the results handler."""
    run_dir, summary = ssdlite_run
    copy = shutil.copytree(run_dir, tmp_path / "run")
    return finish_async_job(
        api_aws, copy, RunSummary.from_json(summary.to_json()), "incoming/clip.mp4", {"fps": "1"}
    )


def test_job_detail_shows_the_pipelines_timings_and_the_handlers_durations(
    api_server: ApiServer, api_aws: ApiResources, ssdlite_run: tuple[Path, RunSummary], tmp_path: Path
) -> None:
    finished = finished_ssdlite_job(api_aws, ssdlite_run, tmp_path)
    produced = RunSummary.from_output(json.loads(finished.body))
    answer = api_server.client().get(f"/v1/jobs/{finished.job_id}")
    assert answer.status_code == 200, answer.text
    job = answer.json()
    assert job["status"] == "SUCCEEDED"
    assert [h["status"] for h in job["status_history"]] == ["QUEUED", "SUCCEEDED"]
    # The run's phases under the pipeline's names and values; the job's under the results handler's.
    assert job["timings"] == produced.timings.to_json() == ssdlite_run[1].timings.to_json()
    assert set(job["timings"]) == {f.name for f in fields(Timings)}
    assert job["timings"]["inference"] > 0 and job["timings"]["total"] >= job["timings"]["inference"]
    durations = job["durations"]
    assert set(durations) == {"total_seconds", "endpoint_seconds", "elapsed_seconds"}
    assert 0 <= durations["endpoint_seconds"] <= durations["total_seconds"] <= durations["elapsed_seconds"]
    # The one short form, as the results handler stored it.
    assert job["summary"] == produced.short().to_json()
    assert job["summary"]["model"] == "ssdlite" and job["summary"]["random_weights"] is True
    # The cost receipt the worker added, beside the summary for the viewer.
    assert job["receipt"] is not None and job["receipt"] == job["summary"]["receipt"]
    assert job["receipt"]["frames"] == produced.frames_sampled
    assert job["receipt"]["worker_seconds"]["total"] > 0
    assert job["progress"]["fraction"] == 1.0
    assert job["summary_url"] == f"/v1/jobs/{finished.job_id}/summary"
    assert job["frames_url"] == f"/v1/jobs/{finished.job_id}/frames"
    assert set(job["links"]) >= {"contact_sheet", "frames", "summary", "frames_jsonl"}
    indexes = [str(f.frame_index) for f in read_frames_jsonl(finished.run_dir / FRAMES_FILE)]
    assert sorted(job["frame_images"], key=int) == indexes
    assert (
        httpx.get(job["links"]["contact_sheet"]).content
        == (finished.run_dir / "contact_sheet.png").read_bytes()
    )


def test_summary_and_frames_are_served_as_the_run_wrote_them(
    api_server: ApiServer, api_aws: ApiResources, ssdlite_run: tuple[Path, RunSummary], tmp_path: Path
) -> None:
    finished = finished_ssdlite_job(api_aws, ssdlite_run, tmp_path)
    client = api_server.client()
    frames = client.get(f"/v1/jobs/{finished.job_id}/frames")
    assert frames.status_code == 200
    assert frames.headers["content-type"].startswith("application/x-ndjson")
    assert frames.content == (finished.run_dir / FRAMES_FILE).read_bytes()
    summary = client.get(f"/v1/jobs/{finished.job_id}/summary")
    assert summary.status_code == 200
    # One shape: the async output body, summary.json in the bucket and the API's answer are the same.
    assert (
        summary.json()
        == json.loads(finished.body)
        == json.loads((finished.run_dir / SUMMARY_FILE).read_text())
    )
    assert "frames" not in summary.json()
    assert summary.json()["artifacts"]["frames"].endswith(f"/jobs/{finished.job_id}/artifacts/{FRAMES_FILE}")


def test_unknown_and_malformed_job_ids(api_server: ApiServer, api_aws: ApiResources) -> None:
    client = api_server.client()
    assert client.get(f"/v1/jobs/{'0' * 32}").status_code == 404
    assert client.get(f"/v1/jobs/{'0' * 32}/frames").status_code == 404
    assert client.get(f"/v1/jobs/{'0' * 32}/summary").status_code == 404
    assert client.get("/v1/jobs/bad%20id").status_code == 422


def test_processing_job_serves_the_shallowest_video_with_frames(
    api_server: ApiServer, api_aws: ApiResources, ssdlite_run: tuple[Path, RunSummary]
) -> None:
    job_id = "e" * 32
    output = f"jobs/{job_id}/output"
    run_dir, _ = ssdlite_run
    for name in (SUMMARY_FILE, FRAMES_FILE):  # what reelsight process leaves for one video
        api_aws.s3.upload_file(str(run_dir / name), api_aws.results_bucket, f"{output}/a.mp4/{name}")
    api_aws.put_json(f"{output}/summary.json", {"frames_sampled": 0})  # no frames.jsonl beside it
    api_aws.put_job(
        job_id=job_id,
        status="SUCCEEDED",
        route="processing",
        created_at=stamp(0),
        output_location=f"s3://{api_aws.results_bucket}/{output}/",
    )
    client = api_server.client()
    job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["frames_url"] == f"/v1/jobs/{job_id}/frames" and job["summary"] is None
    assert job["timings"] is None
    assert client.get(job["frames_url"]).content == (run_dir / FRAMES_FILE).read_bytes()
    assert client.get(job["summary_url"]).json() == json.loads((run_dir / SUMMARY_FILE).read_text())


def test_job_without_result_answers_404(api_server: ApiServer, api_aws: ApiResources) -> None:
    job_id = running_processing_job(api_aws)
    client = api_server.client()
    job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["frames_url"] is None and job["summary_url"] is None
    for path in ("frames", "summary"):
        answer = client.get(f"/v1/jobs/{job_id}/{path}")
        assert answer.status_code == 404
        assert "RUNNING" in answer.json()["detail"]


# --- progress ---


def test_progress_moves_only_forward(api_server: ApiServer, api_aws: ApiResources) -> None:
    job_id = running_processing_job(api_aws)
    client = api_server.client()
    url = f"/v1/jobs/{job_id}/progress"

    first = client.post(url, json={"video": "a.mp4", "frames_done": 10, "frames_total": 100})
    assert first.status_code == 200, first.text
    assert first.json()["applied"] is True
    retry = client.post(url, json={"video": "a.mp4", "frames_done": 10, "frames_total": 100})
    assert retry.status_code == 200
    assert retry.json()["applied"] is False
    backward = client.post(url, json={"video": "a.mp4", "frames_done": 5, "frames_total": 100})
    assert backward.status_code == 409
    assert "10" in backward.json()["detail"]
    assert client.post(url, json={"video": "a.mp4", "frames_done": 40, "frames_total": 100}).json()["applied"]
    other = client.post(url, json={"video": "dir/b.mp4", "frames_done": 20, "frames_total": 100})
    assert other.json()["job_progress"] == {
        "frames_done": 60,
        "frames_total": 200,
        "fraction": 0.3,
        **live(30.0),
        "videos": {
            "a.mp4": {
                "frames_done": 40,
                "frames_total": 100,
                "updated_at": other.json()["job_progress"]["videos"]["a.mp4"]["updated_at"],
                **live(40.0),
            },
            "dir/b.mp4": {
                "frames_done": 20,
                "frames_total": 100,
                "updated_at": other.json()["progress"]["updated_at"],
                **live(20.0),
            },
        },
    }
    listed = client.get("/v1/jobs").json()["items"][0]
    assert listed["progress"]["fraction"] == 0.3


def test_the_first_progress_report_of_a_queued_job_marks_it_running(
    api_server: ApiServer, api_aws: ApiResources
) -> None:
    """A batch video's own record gets no SageMaker event: its host's first report moves it on."""
    queued = job_chain(api_aws).upload("incoming/queued.mp4", route="processing")
    assert queued.status is JobStatus.QUEUED
    client = api_server.client()
    answer = client.post(f"/v1/jobs/{queued.job_id}/progress", json={"video": "q.mp4", "frames_done": 1})
    assert answer.status_code == 200, answer.text
    job = client.get(f"/v1/jobs/{queued.job_id}").json()
    assert job["status"] == "RUNNING", job
    assert [entry["status"] for entry in job["status_history"]] == ["QUEUED", "RUNNING"]
    stored = JobsTable(api_aws.dynamodb, api_aws.table).get(queued.job_id)
    assert stored is not None and stored.started_at


@pytest.mark.parametrize(
    "body",
    [
        {"video": "a.mp4", "frames_done": -1},
        {"video": "a.mp4", "frames_done": 11, "frames_total": 10},
        {"video": "a.mp4", "frames_done": 1.5},
        {"video": "", "frames_done": 1},
        {"video": "a.mp4", "frames_done": "many"},
        {"video": "a.mp4", "frames_done": 1, "eta": 3},
    ],
)
def test_progress_rejects_bad_numbers(api_server: ApiServer, api_aws: ApiResources, body: dict) -> None:
    assert api_server.client().post(f"/v1/jobs/{'c' * 32}/progress", json=body).status_code == 422


def test_progress_for_unknown_job_is_404(api_server: ApiServer, api_aws: ApiResources) -> None:
    answer = api_server.client().post(
        f"/v1/jobs/{'b' * 32}/progress", json={"video": "a.mp4", "frames_done": 1}
    )
    assert answer.status_code == 404
    assert "Item" not in api_aws.dynamodb.get_item(TableName=api_aws.table, Key={"job_id": {"S": "b" * 32}})


# --- uploads ---


def test_presigned_upload_really_uploads_with_metadata(api_server: ApiServer, api_aws: ApiResources) -> None:
    answer = api_server.client().post(
        "/v1/uploads", json={"filename": "My Holiday (1).MP4", "fps": 2, "model": "FasterRCNN"}
    )
    assert answer.status_code == 200, answer.text
    ticket = answer.json()
    assert ticket["method"] == "PUT"
    assert ticket["key"].startswith("incoming/") and ticket["key"].endswith("/My_Holiday__1_.MP4")
    assert ticket["headers"] == {
        "Content-Type": "video/mp4",
        "x-amz-meta-fps": "2",
        "x-amz-meta-model": "fasterrcnn",
    }
    # moto checks no signature, so the URL itself must show that the metadata is signed: every header
    # the ticket tells the client to send is a signed header, and none travels in the query instead.
    query = parse_qs(urlsplit(ticket["url"]).query)
    signed = query["X-Amz-SignedHeaders"][0].split(";")
    assert {"x-amz-meta-fps", "x-amz-meta-model", "content-type"} <= set(signed)
    assert {name.lower() for name in ticket["headers"]} <= set(signed)
    assert not [name for name in query if name.lower().startswith("x-amz-meta-")]

    put = httpx.put(ticket["url"], content=b"\x00\x00\x00\x18ftypmp42", headers=ticket["headers"])
    assert put.status_code == 200, put.text
    head = api_aws.s3.head_object(Bucket=ticket["bucket"], Key=ticket["key"])
    assert head["Metadata"] == {"fps": "2", "model": "fasterrcnn"}
    assert head["ContentType"] == "video/mp4"
    assert ticket["bucket"] == api_aws.input_bucket


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"filename": "clip.mp4", "model": "no-such-model"}, 400),
        ({"filename": "clip.mp4", "fps": 0}, 422),
        ({"filename": "clip.mp4", "fps": 1e-300}, 400),  # below the contract's range
        ({"filename": "clip.mp4", "params": {}}, 422),
        ({}, 422),
    ],
)
def test_upload_rejects_bad_requests(
    api_server: ApiServer, api_aws: ApiResources, body: dict, status: int
) -> None:
    answer = api_server.client().post("/v1/uploads", json=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["detail"]


@pytest.mark.parametrize("filename", ["notes.txt", "clip.mp4.part", "mp4", "../..", "clip.", ""])
def test_upload_refuses_names_the_pipeline_would_not_process(
    api_server: ApiServer, api_aws: ApiResources, filename: str
) -> None:
    answer = api_server.client().post("/v1/uploads", json={"filename": filename})
    assert answer.status_code == 400, answer.text
    detail = answer.json()["detail"]
    assert ".mp4, .mov, .m4v, .mkv, .webm, .avi, .mpg, .mpeg, .ts (any case)" in detail
    assert repr(filename) in detail


@pytest.mark.parametrize("filename", ["CLIP.MP4", "clip.ts", "clip.Mpg", "b.MOV"])
def test_upload_tickets_are_for_keys_the_dispatcher_turns_into_jobs(
    api_server: ApiServer, api_aws: ApiResources, filename: str
) -> None:
    from lambdas.common.settings import Settings
    from lambdas.dispatch import routing

    answer = api_server.client().post("/v1/uploads", json={"filename": filename})
    assert answer.status_code == 200, answer.text
    key = answer.json()["key"]
    settings = Settings(input_bucket=api_aws.input_bucket)
    assert routing.ignore_reason(api_aws.input_bucket, key, "ObjectCreated:Put", settings) is None
    assert routing.rejection_reason(key, settings) is None


# --- viewer pages ---


def test_viewer_pages_are_served_with_a_strict_policy(api_server: ApiServer) -> None:
    for path in ("/", f"/jobs/{'f' * 32}"):
        page = httpx.get(f"{api_server.url}{path}")
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
        assert page.headers["Referrer-Policy"] == "no-referrer"
    assert httpx.get(f"{api_server.url}/openapi.json").json()["info"]["title"] == "reelsight API"
    assert httpx.get(f"{api_server.url}/docs").status_code == 404  # Swagger UI would need a CDN
    script = httpx.get(f"{api_server.url}/static/rle.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]


def test_worker_progress_reporter_is_accepted(api_server: ApiServer, api_aws: ApiResources) -> None:
    """The Processing job's reporter (reelsight.worker.progress) against this server, full entries too."""
    from reelsight.worker.progress import ProgressReporter

    job_id = running_processing_job(api_aws)
    running = {"stage": "running", "inference_fps": 3.5, "decode_fps": 40.0, "eta_seconds": 5.1, "parts": 1}
    first = ProgressReporter(api_server.url, TOKEN, job_id, min_interval=0)
    first.update("clip.mp4", 0, None)
    first.update("clip.mp4", 12, 30, entry={**running, "updated_at": "dropped: the table stamps it"})
    first.close()
    mid = api_server.client().get(f"/v1/jobs/{job_id}").json()["progress"]["videos"]["clip.mp4"]
    assert {k: mid[k] for k in (*running, "frames_done")} == {**running, "frames_done": 12}
    last = ProgressReporter(api_server.url, TOKEN, job_id, min_interval=0)
    last.update("clip.mp4", 30, 30, final=True, entry={"stage": "done"})
    last.update("clip.mp4", 30, 30, final=True)  # a repeated final report is a no-op, not an error
    last.close()
    assert (first.sent + last.sent, first.failed + last.failed) == (4, 0)
    job = api_server.client().get(f"/v1/jobs/{job_id}").json()
    assert job["progress"]["videos"]["clip.mp4"]["frames_done"] == 30
    assert job["progress"]["videos"]["clip.mp4"]["stage"] == "done"
    assert job["progress"]["fraction"] == 1.0


def test_items_older_writers_left_are_shown_in_the_one_vocabulary(
    api_server: ApiServer, api_aws: ApiResources
) -> None:
    """A lower-case status and an epoch created_at, written as is (no producer writes them any more)."""
    api_aws.put_job(job_id="0" * 32, status="completed", created_at=1793534400, params='{"fps": "2"}')
    client = api_server.client()
    [item] = client.get("/v1/jobs").json()["items"]
    assert (item["status"], item["created_at"]) == ("SUCCEEDED", "2026-11-01T12:00:00.000Z")
    assert item["progress"]["fraction"] == 1.0
    assert client.get(f"/v1/jobs/{'0' * 32}").json()["params"] == {"fps": "2"}
