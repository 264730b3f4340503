"""The viewer's tracks in headless Chromium: one bar per track, and a click shows its best frame."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from reelsight import render
from tests.api.support import TOKEN, ApiResources, ApiServer
from tests.api.tracked_job import seed_tracked_job

HERE = Path(__file__).parent
CHROMIUM = os.environ.get("REELSIGHT_TEST_CHROMIUM", "/usr/bin/chromium")
PLAYWRIGHT = HERE.parents[1] / "node_modules" / "playwright-core"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and PLAYWRIGHT.exists() and shutil.which("node")),
    reason="needs /usr/bin/chromium and node_modules/playwright-core (make test installs both)",
)


def test_job_page_shows_a_bar_per_track_and_jumps_to_its_best_frame(
    api_server: ApiServer, api_aws: ApiResources, artifacts_dir: Path, tmp_path: Path
) -> None:
    job = seed_tracked_job(api_aws, tmp_path)
    # A track whose best frame is not the first frame (the stage shows that one at first).
    chosen = next(t for t in job.tracks if t.best.frame_index != 0)
    options = {
        "url": api_server.url,
        "token": TOKEN,
        "job": job.job_id,
        "track": chosen.track_id,
        "executable": CHROMIUM,
        "shot": str(artifacts_dir / "viewer-tracks.png"),
    }
    answer = subprocess.run(
        ["node", str(HERE / "tracks_check.mjs"), json.dumps(options)],
        capture_output=True,
        text=True,
        timeout=150,
        cwd=HERE,
    )
    assert answer.returncode == 0, answer.stderr[-4000:]
    report = json.loads(answer.stdout.strip().splitlines()[-1])

    assert report["problems"] == [], report["problems"]
    assert report["cardShown"] is True
    assert report["bodyTracks"] == str(len(job.tracks))
    assert report["count"].startswith(f"{len(job.tracks)} tracks")
    bars = {bar["id"]: bar for bar in report["bars"]}
    assert set(bars) == {t.track_id for t in job.tracks}
    for track in job.tracks:
        bar = bars[track.track_id]
        assert bar["best"] == track.best.frame_index
        # The preview video's colour for the same track.
        assert bar["fill"] == "#{:02x}{:02x}{:02x}".format(*render.track_colour(track.track_id))
    # Bars run from first to last sighting: a later start is further right.
    early, late = min(job.tracks, key=lambda t: t.first_seen), max(job.tracks, key=lambda t: t.first_seen)
    assert bars[early.track_id]["x"] < bars[late.track_id]["x"]
    assert f"#{chosen.track_id} {chosen.class_name}" in report["labels"]

    assert report["stageBefore"] == "0"
    assert report["stageAfter"] == str(chosen.best.frame_index)
    assert report["stageTrack"] == str(chosen.track_id)
    x1, y1, x2, y2 = chosen.best.box
    assert report["focus"] == [
        {"id": chosen.track_id, "box": [x1, y1, x2 - x1, y2 - y1], "stroke": bars[chosen.track_id]["fill"]}
    ]
