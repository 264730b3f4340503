"""A job while it runs, over HTTP: its progress as the worker reports it, and /frames streaming the
result parts written so far (in order) until the final frames.jsonl exists."""

from __future__ import annotations

import json
from pathlib import Path

from reelsight.contract.jobs import JobStatus
from reelsight.contract.names import FRAMES_FILE, SUMMARY_FILE, artifacts_prefix
from reelsight.results import FramesWriter
from tests.api.running_job import VIDEO, scene_frames, start_running_job
from tests.api.support import ApiResources, ApiServer
from tests.api.viewer_job import job_chain


def lines_of(answer_text: str) -> list[dict]:
    return [json.loads(line) for line in answer_text.splitlines() if line.strip()]


def test_running_job_shows_progress_and_streams_its_parts(
    api_server: ApiServer, api_aws: ApiResources, tmp_path: Path
) -> None:
    running = start_running_job(api_aws, tmp_path, total=60)
    client = api_server.client()
    url = f"/v1/jobs/{running.job_id}"

    running.report("loading", 0)
    job = client.get(url).json()
    assert job["progress"]["stage"] == "loading" and job["progress"]["percent"] == 0.0
    assert job["frames_url"] is None and job["frames_final"] is False
    assert client.get(f"{url}/frames").status_code == 404

    frames = scene_frames(20)
    running.write_part(frames[:8])
    running.write_part(frames[8:12])
    running.report("running", 12, fps=3.1, eta=15.5)
    job = client.get(url).json()
    progress = job["progress"]
    assert (progress["frames_done"], progress["frames_total"], progress["percent"]) == (12, 60, 20.0)
    assert (progress["inference_fps"], progress["decode_fps"], progress["eta_seconds"]) == (3.1, 6.2, 15.5)
    assert progress["stage"] == "running" and progress["parts"] == 2
    assert progress["videos"][VIDEO]["eta_seconds"] == 15.5
    assert job["frames_url"] == f"{url}/frames" and job["frames_final"] is False
    assert not any("/parts/" in d["key"] for d in job["downloads"])  # parts are not results to download

    answer = client.get(f"{url}/frames")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/x-ndjson")
    assert lines_of(answer.text) == [f.to_json() for f in frames[:12]]

    # Ten parts: the order is the parts' index, not the listing's text order.
    for start in range(12, 20):
        running.write_part(frames[start : start + 1])
    assert lines_of(client.get(f"{url}/frames").text) == [f.to_json() for f in frames]


def test_partial_job_keeps_streaming_its_parts(
    api_server: ApiServer, api_aws: ApiResources, tmp_path: Path
) -> None:
    running = start_running_job(api_aws, tmp_path, total=30)
    frames = scene_frames(6)
    running.write_part(frames)
    running.report("running", 6, fps=2.0, eta=12.0)
    job_chain(api_aws).table.transition(running.job_id, JobStatus.PARTIAL, reason="the worker stopped")
    client = api_server.client()
    job = client.get(f"/v1/jobs/{running.job_id}").json()
    assert job["status"] == "PARTIAL" and job["reason"] == "the worker stopped"
    assert job["progress"]["frames_done"] == 6 and job["progress"]["percent"] == 20.0
    assert lines_of(client.get(f"/v1/jobs/{running.job_id}/frames").text) == [f.to_json() for f in frames]


def test_final_frames_replace_the_parts_once_written(
    api_server: ApiServer, api_aws: ApiResources, tmp_path: Path
) -> None:
    running = start_running_job(api_aws, tmp_path, total=4)
    frames = scene_frames(4)
    running.write_part(frames[:2])
    final = tmp_path / FRAMES_FILE
    with FramesWriter(final) as writer:  # the final file: every frame (here one part was left behind)
        writer.write_all(frames)
    prefix = artifacts_prefix(running.job_id)
    api_aws.s3.upload_file(str(final), api_aws.results_bucket, prefix + FRAMES_FILE)
    api_aws.put_json(prefix + SUMMARY_FILE, {"frames_sampled": 4})
    client = api_server.client()
    job = client.get(f"/v1/jobs/{running.job_id}").json()
    assert job["frames_final"] is True
    answer = client.get(f"/v1/jobs/{running.job_id}/frames")
    assert answer.content == final.read_bytes()
