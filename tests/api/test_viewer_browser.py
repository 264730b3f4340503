"""The viewer in headless Chromium: a seeded completed job renders with its boxes, masks and timeline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.api.support import TOKEN, ApiResources, ApiServer
from tests.api.viewer_job import SCENE, seed_viewer_job

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

    assert report["problems"] == []
    # The list: three seeded jobs, newest first.
    assert report["jobRows"] == 3
    assert report["firstRowJob"] == job.running_job_id
    # The token given as ?token= is kept for the tab and removed from the address.
    assert "token=" not in report["addressAfterLoad"]
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
