"""The API over HTTP: a real uvicorn server on loopback against the moto server."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.api.support import TOKEN, ApiResources, ApiServer

BASE = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def stamp(minutes: int) -> str:
    """An ISO 8601 UTC timestamp in the dispatcher's format (milliseconds, Z)."""
    moment = BASE + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def seed_jobs(
    api_aws: ApiResources, count: int, status: Callable[[int], str] = lambda i: "SUCCEEDED"
) -> list[str]:
    ids = []
    for i in range(count):
        job_id = f"{i:04d}" + "a" * 28
        api_aws.put_job(
            job_id=job_id,
            status=status(i),
            route="async",
            source=f"s3://in/incoming/video{i}.mp4",
            created_at=stamp(i),
            updated_at=stamp(i),
        )
        ids.append(job_id)
    return ids


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
    assert created[0] == "2026-11-01T12:09:00Z"


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
    assert created == [f"2026-11-01T12:0{m}:00Z" for m in range(3, 7)]


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


def completed_job(api_aws: ApiResources, job_id: str = "f" * 32) -> dict:
    prefix = f"jobs/{job_id}"
    document = {
        "schema_version": "1.0",
        "summary": {"frames_sampled": 2, "artifacts": {}},
        "frames": [
            {"frame_index": 0, "timestamp": 0.0, "width": 64, "height": 48, "detections": None},
            {"frame_index": 30, "timestamp": 1.0, "width": 64, "height": 48, "detections": None},
        ],
    }
    output = api_aws.put_json(f"{prefix}/output/abc.out", document)
    api_aws.s3.put_object(
        Bucket=api_aws.results_bucket, Key=f"{prefix}/artifacts/contact_sheet.png", Body=b"png"
    )
    api_aws.s3.put_object(Bucket=api_aws.results_bucket, Key=f"{prefix}/artifacts/preview.mp4", Body=b"mp4")
    api_aws.s3.put_object(
        Bucket=api_aws.results_bucket, Key=f"{prefix}/artifacts/frames/frame_000030.jpg", Body=b"jpg30"
    )
    api_aws.s3.put_object(
        Bucket=api_aws.results_bucket, Key=f"{prefix}/artifacts/masks/frame_000030.png", Body=b"m"
    )
    api_aws.put_job(
        job_id=job_id,
        status="SUCCEEDED",
        route="async",
        source="s3://in/incoming/clip.mp4",
        params={"model": "maskrcnn", "sampling": {"fps": 1.0}},
        created_at=stamp(0),
        updated_at=stamp(2),
        status_history=[{"status": "QUEUED", "at": stamp(0)}, {"status": "SUCCEEDED", "at": stamp(2)}],
        durations={"queued_seconds": 3.5},
        output_location=output,
        summary={"frames_sampled": 2, "timings": {"inference": 1.25}, "artifacts": {}},
        inference_id="abc",
    )
    return document


def test_job_detail_has_history_timings_and_presigned_links(
    api_server: ApiServer, api_aws: ApiResources
) -> None:
    completed_job(api_aws)
    answer = api_server.client().get(f"/v1/jobs/{'f' * 32}")
    assert answer.status_code == 200, answer.text
    job = answer.json()
    assert job["status"] == "SUCCEEDED"
    assert [h["status"] for h in job["status_history"]] == ["QUEUED", "SUCCEEDED"]
    assert job["timings"] == {"queued_seconds": 3.5, "inference": 1.25, "elapsed_seconds": 120.0}
    assert job["params"]["model"] == "maskrcnn"
    assert job["progress"]["fraction"] == 1.0
    assert job["extra"] == {"inference_id": "abc"}
    assert job["result_url"] == f"/v1/jobs/{'f' * 32}/result"
    assert set(job["links"]) >= {"contact_sheet", "preview", "result"}
    assert list(job["frame_images"]) == ["30"]
    assert not any("masks/" in d["name"] for d in job["downloads"])
    assert httpx.get(job["frame_images"]["30"]).content == b"jpg30"
    assert httpx.get(job["links"]["preview"]).content == b"mp4"


def test_unknown_and_malformed_job_ids(api_server: ApiServer, api_aws: ApiResources) -> None:
    client = api_server.client()
    assert client.get(f"/v1/jobs/{'0' * 32}").status_code == 404
    assert client.get(f"/v1/jobs/{'0' * 32}/result").status_code == 404
    assert client.get("/v1/jobs/bad%20id").status_code == 422


def test_result_document_is_proxied(api_server: ApiServer, api_aws: ApiResources) -> None:
    document = completed_job(api_aws)
    answer = api_server.client().get(f"/v1/jobs/{'f' * 32}/result")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == document


def test_processing_result_is_assembled_from_summary_and_frames(
    api_server: ApiServer, api_aws: ApiResources
) -> None:
    job_id = "e" * 32
    output = f"jobs/{job_id}/output"
    frames = [{"frame_index": i, "timestamp": i / 2, "width": 8, "height": 8} for i in range(3)]
    summary = {"schema_version": "1.0", "frames_sampled": 3}
    api_aws.put_json(f"{output}/a.mp4/summary.json", summary)
    api_aws.s3.put_object(
        Bucket=api_aws.results_bucket,
        Key=f"{output}/a.mp4/frames.jsonl",
        Body="\n".join(json.dumps(f) for f in frames).encode() + b"\n",
    )
    api_aws.put_json(f"{output}/summary.json", {"frames_sampled": 0})  # no frames.jsonl beside it
    api_aws.put_job(
        job_id=job_id,
        status="SUCCEEDED",
        route="processing",
        created_at=stamp(0),
        output_location=f"s3://{api_aws.results_bucket}/{output}/",
    )
    client = api_server.client()
    assert client.get(f"/v1/jobs/{job_id}").json()["result_url"] == f"/v1/jobs/{job_id}/result"
    document = client.get(f"/v1/jobs/{job_id}/result").json()
    assert document == {"schema_version": "1.0", "summary": summary, "frames": frames}


def test_job_without_result_answers_404(api_server: ApiServer, api_aws: ApiResources) -> None:
    job_id = "d" * 32
    expected = f"s3://{api_aws.results_bucket}/jobs/{job_id}/output/not-yet.out"
    api_aws.put_job(job_id=job_id, status="RUNNING", created_at=stamp(0), output_location=expected)
    client = api_server.client()
    job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["result_url"] is None
    assert "result" not in job["links"]
    answer = client.get(f"/v1/jobs/{job_id}/result")
    assert answer.status_code == 404
    assert "RUNNING" in answer.json()["detail"]


# --- progress ---


def test_progress_moves_only_forward(api_server: ApiServer, api_aws: ApiResources) -> None:
    job_id = "c" * 32
    api_aws.put_job(job_id=job_id, status="RUNNING", route="processing", created_at=stamp(0))
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
        "videos": {
            "a.mp4": {
                "frames_done": 40,
                "frames_total": 100,
                "updated_at": other.json()["job_progress"]["videos"]["a.mp4"]["updated_at"],
            },
            "dir/b.mp4": {
                "frames_done": 20,
                "frames_total": 100,
                "updated_at": other.json()["progress"]["updated_at"],
            },
        },
    }
    listed = client.get("/v1/jobs").json()["items"][0]
    assert listed["progress"]["fraction"] == 0.3


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
    api_aws.put_job(job_id="c" * 32, status="RUNNING", created_at=stamp(0))
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
    signed = parse_qs(urlsplit(ticket["url"]).query)["X-Amz-SignedHeaders"][0].split(";")
    assert {"x-amz-meta-fps", "x-amz-meta-model", "content-type"} <= set(signed)

    put = httpx.put(ticket["url"], content=b"\x00\x00\x00\x18ftypmp42", headers=ticket["headers"])
    assert put.status_code == 200, put.text
    head = api_aws.s3.head_object(Bucket=ticket["bucket"], Key=ticket["key"])
    assert head["Metadata"] == {"fps": "2", "model": "fasterrcnn"}
    assert head["ContentType"] == "video/mp4"
    assert ticket["bucket"] == api_aws.input_bucket


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"filename": "notes.txt"}, 422),
        ({"filename": "clip.mp4", "model": "no-such-model"}, 400),
        ({"filename": "clip.mp4", "fps": 0}, 422),
        ({"filename": "clip.mp4", "params": {}}, 422),
        ({"filename": "../.."}, 422),
        ({}, 422),
    ],
)
def test_upload_rejects_bad_requests(
    api_server: ApiServer, api_aws: ApiResources, body: dict, status: int
) -> None:
    answer = api_server.client().post("/v1/uploads", json=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["detail"]


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
    """The Processing job's reporter (reelsight.worker.progress) against this server."""
    from reelsight.worker.progress import ProgressReporter

    job_id = "5" * 32
    api_aws.put_job(job_id=job_id, status="RUNNING", route="processing", created_at=stamp(0))
    reporter = ProgressReporter(api_server.url, TOKEN, job_id, min_interval=0)
    reporter.update("clip.mp4", 0, None)
    reporter.update("clip.mp4", 12, 30)
    reporter.update("clip.mp4", 30, 30, final=True)
    reporter.update("clip.mp4", 30, 30, final=True)  # a repeated final report is a no-op, not an error
    reporter.close()
    assert (reporter.sent, reporter.failed) == (4, 0)
    job = api_server.client().get(f"/v1/jobs/{job_id}").json()
    assert job["progress"]["videos"]["clip.mp4"]["frames_done"] == 30
    assert job["progress"]["fraction"] == 1.0
