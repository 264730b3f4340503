"""The viewer in headless Chromium: a seeded completed job renders with its boxes, masks and timeline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from reelsight.contract.jobs import JobStatus
from tests.api.running_job import scene_frames, start_running_job
from tests.api.support import TOKEN, ApiResources, ApiServer
from tests.api.viewer_job import SCENE, job_chain, seed_viewer_job

HERE = Path(__file__).parent
CHROMIUM = os.environ.get("REELSIGHT_TEST_CHROMIUM", "/usr/bin/chromium")
PLAYWRIGHT = HERE.parents[1] / "node_modules" / "playwright-core"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and PLAYWRIGHT.exists() and shutil.which("node")),
    reason="needs /usr/bin/chromium and node_modules/playwright-core (make test installs both)",
)


def test_job_page_draws_boxes_masks_and_timeline(
    api_server: ApiServer, api_aws: ApiResources, artifacts_dir: Path, tmp_path: Path
) -> None:
    job = seed_viewer_job(api_aws, tmp_path)
    busiest = max(job.boxes_per_frame, key=lambda index: job.boxes_per_frame[index])
    options = {
        "url": api_server.url,
        "token": TOKEN,
        "job": job.job_id,
        "frame": busiest,
        "executable": CHROMIUM,
        "running": job.running_job_id,
        "shots": {
            "job": str(artifacts_dir / "viewer-job.png"),
            "index": str(artifacts_dir / "viewer-jobs.png"),
            "running": str(artifacts_dir / "viewer-job-running.png"),
        },
    }
    answer = subprocess.run(
        ["node", str(HERE / "browser_check.mjs"), json.dumps(options)],
        capture_output=True,
        text=True,
        timeout=150,
        cwd=HERE,
    )
    assert answer.returncode == 0, answer.stderr[-4000:]
    report = json.loads(answer.stdout.strip().splitlines()[-1])

    assert report["problems"] == [], report["problems"]
    # The list: three seeded jobs, newest first.
    assert report["jobRows"] == 3
    assert report["firstRowJob"] == job.running_job_id
    # A wrong token is refused in the form; the right one becomes a session cookie that no script
    # can read and no other site can send, and the page keeps no token anywhere.
    assert report["wrongTokenMessage"] == "That token was refused."
    assert report["cookies"] == [
        {"name": "reelsight_session", "path": "/v1", "httpOnly": True, "secure": True,
         "sameSite": "Strict", "isToken": False},
    ]  # fmt: skip
    assert report["tokenKept"] is False
    assert "token" not in report["addressAfterLoad"]
    assert report["title"] == "street.mp4"
    assert report["status"] == "SUCCEEDED"
    # Every frame shows exactly its detections, as a data attribute and as drawn rectangles.
    expected = {str(index): [count, count] for index, count in job.boxes_per_frame.items()}
    assert report["boxesPerThumbnail"] == expected
    assert report["maskImages"] == sum(1 for count in job.boxes_per_frame.values() if count)
    assert report["framesWithPhoto"] == len(job.boxes_per_frame) - 1
    assert report["noImageFrames"] == [str(job.frame_without_image)]
    assert report["timelineHits"] == sum(len({name for name, _ in frame}) for frame in SCENE)
    assert set(report["timelineClasses"]) == {"car", "person", "dog", "bicycle", "truck", "sampled"}
    assert report["contactSheetLoaded"] is True
    assert report["downloads"] >= 3
    # The cost receipt the worker put in the summary.
    assert report["receiptShown"] is True
    assert {"cost per video-hour", "instance type", "worker seconds"} <= set(report["receiptFacts"])
    assert report["stageFrame"] == str(busiest)
    assert report["stageBoxes"] == job.boxes_per_frame[busiest] == report["stageListed"]
    assert sorted(label.split()[0] for label in report["stageLabels"]) == ["car", "person", "person", "truck"]
    assert (artifacts_dir / "viewer-job.png").stat().st_size > 10_000
    # The running job seeded beside it: 420 of 1000 frames reported.
    assert report["runningProgress"] == "42%"
    assert report["runningVideos"] == 2
    assert report["runningDownloads"] == "Nothing yet."
    assert report["runningViewerHidden"] is True
    assert report["runningMessage"] == ""
    # Signing out drops the cookie and ends the session.
    assert report["cookiesAfterSignOut"] == 0
    assert report["jobsAfterSignOut"] == 401


def test_running_job_page_updates_while_the_job_runs(
    api_server: ApiServer, api_aws: ApiResources, artifacts_dir: Path, tmp_path: Path
) -> None:
    """Progress changes between two polls and frames appear before the job ends; then PARTIAL."""
    running = start_running_job(api_aws, tmp_path, total=60)
    running.report("loading", 0)
    shot = artifacts_dir / "viewer-running.png"
    options = {"url": api_server.url, "token": TOKEN, "job": running.job_id, "executable": CHROMIUM}
    node = subprocess.Popen(
        ["node", str(HERE / "running_check.mjs"), json.dumps({**options, "shot": str(shot)})],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=HERE,
    )
    watchdog = threading.Timer(150, node.kill)
    watchdog.start()
    try:
        first = read_step(node)
        assert first["live"] == {"stage": "loading", "frames": "0/60 frames", "percent": "0%"}
        assert first["thumbnails"] == 0 and first["viewerHidden"] is True

        frames = scene_frames(12)
        running.write_part(frames[:8])
        running.write_part(frames[8:])
        running.report("running", 12, fps=3.1, eta=15.4)
        second = read_step(node, go=True)
        assert second["live"] == {
            "stage": "running",
            "frames": "12/60 frames",
            "percent": "20%",
            "rate": "3.1 frames/s",
            "eta": "ETA 15.4 s",
        }
        assert second["status"] == "RUNNING"  # the frames arrived before the job ended
        assert second["thumbnails"] == 12
        assert second["boxes"] == sum(len(f.detections or []) for f in frames)
        assert second["stageFrame"] == str(frames[0].frame_index)
        assert shot.stat().st_size > 10_000

        job_chain(api_aws).table.transition(running.job_id, JobStatus.PARTIAL, reason="the worker stopped")
        third = read_step(node, go=True)
    finally:
        watchdog.cancel()
        node.kill()
        node.wait()
    assert third["problems"] == []
    assert third["badge"] == "PARTIAL" and "status-partial" in third["badgeClass"]
    assert third["liveShown"] == 0 and third["thumbnails"] == 12
    assert third["pollsAfterEnd"] == 0


def read_step(node: subprocess.Popen[str], go: bool = False) -> dict:
    """Let the page go on (a line on its stdin) and read the JSON line of its next step."""
    assert node.stdin and node.stdout and node.stderr
    if go:
        node.stdin.write("next\n")
        node.stdin.flush()
    line = node.stdout.readline()
    if not line:
        raise AssertionError(f"the browser check ended: {node.stderr.read()[-4000:]}")
    return dict(json.loads(line))
