"""``GET /v1/jobs/{id}/tracks`` over HTTP: the tracks.jsonl the run wrote, or a 404 that says why."""

from __future__ import annotations

import json
from pathlib import Path

from reelsight.contract.names import TRACKS_FILE
from tests.api.support import ApiResources, ApiServer
from tests.api.tracked_job import seed_tracked_job
from tests.api.viewer_job import seed_viewer_job


def test_tracks_are_served_as_the_run_wrote_them(
    api_server: ApiServer, api_aws: ApiResources, tmp_path: Path
) -> None:
    job = seed_tracked_job(api_aws, tmp_path)
    client = api_server.client()
    answer = client.get(f"/v1/jobs/{job.job_id}/tracks")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    assert answer.content == (job.finished.run_dir / TRACKS_FILE).read_bytes()
    assert [json.loads(line)["track_id"] for line in answer.text.splitlines()] == [
        t.track_id for t in job.tracks
    ]
    summary = client.get(f"/v1/jobs/{job.job_id}/summary").json()
    assert summary["artifacts"]["tracks"].endswith(f"/jobs/{job.job_id}/artifacts/{TRACKS_FILE}")
    record = client.get(f"/v1/jobs/{job.job_id}").json()
    counts: dict[str, int] = {}
    for track in job.tracks:
        counts[track.class_name] = counts.get(track.class_name, 0) + 1
    assert record["summary"]["unique_objects_per_class"] == counts
    assert record["params"] == {"track": "true", "fps": "10"}  # the dispatcher adds tracking's rate


def test_a_job_without_tracks_answers_404_with_the_reason(
    api_server: ApiServer, api_aws: ApiResources, tmp_path: Path
) -> None:
    untracked = seed_viewer_job(api_aws, tmp_path)
    client = api_server.client()
    answer = client.get(f"/v1/jobs/{untracked.job_id}/tracks")
    assert answer.status_code == 404
    assert "was not tracked" in answer.text and "track=true" in answer.text
    assert client.get(f"/v1/jobs/{untracked.running_job_id}/tracks").status_code == 404
    assert client.get(f"/v1/jobs/{'0' * 32}/tracks").status_code == 404
    assert (
        client.get(f"/v1/jobs/{untracked.job_id}/tracks", headers={"Authorization": "Bearer x"}).status_code
        == 401
    )


def test_an_upload_asks_for_tracking_and_is_refused_for_a_model_without_boxes(
    api_server: ApiServer, api_aws: ApiResources
) -> None:
    from lambdas.dispatch import routing

    client = api_server.client()
    answer = client.post("/v1/uploads", json={"filename": "street.mp4", "track": True})
    assert answer.status_code == 200, answer.text
    metadata = {
        name.removeprefix("x-amz-meta-"): value
        for name, value in answer.json()["headers"].items()
        if name.startswith("x-amz-meta-")
    }
    assert metadata == {"track": "true"}
    # What the dispatcher makes of that metadata: tracking at its own rate.
    wanted = routing.options_from_metadata(metadata, {})
    assert wanted.options.track is True and wanted.options.sampling.fps == 10
    refused = client.post(
        "/v1/uploads", json={"filename": "street.mp4", "track": True, "model": "deeplabv3_resnet50"}
    )
    assert refused.status_code == 400, refused.text
    assert "track needs a model that outputs boxes" in refused.json()["detail"]
    assert client.post("/v1/uploads", json={"filename": "a.mp4", "track": "yes"}).status_code in (400, 422)
