"""The benchmark runs end to end on a tiny configuration: both sides, the ratio, memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_compares_both_sides_and_measures_memory(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run_bench", "--seconds", "1", "--repeat", "1",
         "--precision", "fp32@320", "--memory-minutes", "0.05", "0.1", "--tracking-seconds", "0.3",
         "--out", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    seed, ours = report["speed"]["seed002"], report["speed"]["reelsight_fp32@320"]
    # One sampled frame each (the seed keeps every 30th frame of a 30 fps second; reelsight 1/s).
    assert seed["frames"] == ours["frames"] == 1
    assert seed["detections"] > 0 and ours["detections"] > 0
    assert ours["masks_kept"] is True and ours["model_min_size"] == 320 and ours["precision"] == "fp32"
    ratio = ours["frames_per_second"] / seed["frames_per_second"]
    assert ours["speedup_vs_seed"] == pytest.approx(ratio, rel=0.01)
    assert "x the seed" in proc.stdout
    memory = report["memory"]
    assert memory["0.05min"]["frames"] == 3 and memory["0.1min"]["frames"] == 6
    assert memory["ratio"] == pytest.approx(
        memory["0.1min"]["peak_rss_mib"] / memory["0.05min"]["peak_rss_mib"], abs=0.001
    )
    tracking = report["tracking"]
    assert tracking["sampling_fps"] == 10
    assert tracking["tracked"]["frames"] == tracking["untracked"]["frames"] == 3
    assert tracking["tracked"]["detections"] == tracking["untracked"]["detections"] > 0
    assert tracking["overhead"] == pytest.approx(
        tracking["tracked"]["seconds_per_frame"] / tracking["untracked"]["seconds_per_frame"] - 1, abs=0.001
    )
    assert 0 < tracking["tracker_share"] < 1 and "tracking at 10 fps" in proc.stdout
    assert report["machine"]["torch_threads"] >= 1
