"""`reelsight run` and `reelsight models` end to end, in subprocesses, with their exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reelsight.results import read_frames_jsonl, read_summary, rle_to_mask
from reelsight.testing.videos import WrittenVideo, write_empty, write_not_a_video, write_truncated


def _reelsight(*args: str | Path, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONUNBUFFERED": "1"}
    env["HTTPS_PROXY"] = env["HTTP_PROXY"] = "http://127.0.0.1:9"  # no download can succeed
    return subprocess.run(
        [sys.executable, "-m", "reelsight", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_run_maskrcnn_end_to_end(clip_5s: WrittenVideo, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _reelsight(
        "run", clip_5s.path, "--model", "maskrcnn", "--weights", "random", "--fps", "1", "--out", out,
        "--min-size", "64", "--max-size", "96", "--score-threshold", "0.0", "--preview",
        "--batch-size", "3", "--no-progress",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "frames sampled: 5" in result.stdout
    assert f"results in {out}/" in result.stdout
    assert "RANDOM weights" in result.stdout
    summary = read_summary(out / "summary.json")
    assert summary.status == "ok" and summary.frames_sampled == 5
    assert summary.model["name"] == "maskrcnn" and summary.model["random_weights"] is True
    assert summary.params["batch_size"] == 3 and summary.params["sampling"]["resize"] == "none"
    assert set(summary.params["include"]) == {"masks", "contact_sheet", "preview"}
    for rel in ("frames.jsonl", "contact_sheet.png", "preview.mp4"):
        assert (out / rel).stat().st_size > 0, rel
    frames = list(read_frames_jsonl(out / "frames.jsonl"))
    assert len(frames) == 5 and summary.detections_total == sum(len(f.detections or ()) for f in frames)
    first = next(f.detections for f in frames if f.detections)
    assert first is not None and first.masks is not None
    assert rle_to_mask(first.masks[0]).shape == (240, 320)
    assert first.xyxy[:, 2].max() <= 320 and first.xyxy[:, 3].max() <= 240


@pytest.mark.slow
def test_run_semantic_with_progress_and_json(clip_5s: WrittenVideo, tmp_path: Path) -> None:
    result = _reelsight(
        "run", clip_5s.path, "--model", "deeplabv3_mobilenet_v3", "--weights", "random",
        "--every-seconds", "2", "--max-frames", "2", "--json", "--size", "64x48",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["frames_sampled"] == 2
    assert document["params"]["sampling"]["resize"] == "fit"  # --size alone means fit
    assert document["params"]["sampling"]["size"] == [64, 48]
    assert "frame" in result.stderr  # tqdm bar
    out = tmp_path / "out" / "clip5s"  # default output directory
    assert (out / "summary.json").exists() and (out / "class_maps" / "frame_000060.png").exists()


def test_bad_video_exits_3(tmp_path: Path) -> None:
    for bad in (
        write_not_a_video(tmp_path / "a.mp4"),
        write_empty(tmp_path / "b.mp4"),
        tmp_path / "missing.mp4",
    ):
        result = _reelsight("run", bad, "--weights", "random", "--out", tmp_path / "o", cwd=tmp_path)
        assert result.returncode == 3, (bad, result.stderr)
        assert "reelsight: error:" in result.stderr


def test_bad_params_exit_2(clip_5s: WrittenVideo, tmp_path: Path) -> None:
    cases = [
        ("--fps", "-1"),
        ("--size", "wide"),
        ("--resize", "squash", "--size", "64x64"),
        ("--include", "masks+sparkles"),
        ("--start", "99"),
        ("--min-size", "4"),
    ]
    for extra in cases:
        result = _reelsight(
            "run", clip_5s.path, "--weights", "random", *extra, "--out", tmp_path / "o", cwd=tmp_path
        )
        assert result.returncode == 2, (extra, result.stderr)
        assert "error" in result.stderr


@pytest.mark.parametrize(
    ("flag", "value", "accepted"),
    [
        ("--fps", "1e308", "fps must be a number from 0.00001 to 1000 samples per second"),
        ("--fps", "nan", "fps must be a number from 0.00001 to 1000"),
        ("--every-seconds", "1e-308", "every_seconds must be a number from 0.001 to 100000 seconds"),
        ("--start", "inf", "start must be a number from 0 to 10000000 seconds"),
        ("--end", "-inf", "end must be a number from 0 to 10000000 seconds"),
        ("--max-frames", "9" * 400, "max_frames must be an integer from 1 to 10000000 frames"),
        ("--batch-size", "100000", "batch_size must be an integer from 1 to 1024 frames"),
        ("--score-threshold", "nan", "score_threshold must be a number from 0 to 1"),
        ("--size", "99999x10", "size must be an integer from 1 to 16384 pixels per side"),
        ("--min-size", "100000", "--min-size must be an integer from 32 to 16384 pixels"),
        ("--seed", str(2**64), "--seed must be an integer from 0 to 4294967295"),
    ],
)
def test_numeric_extremes_exit_2_with_the_range_in_one_line(
    clip_5s: WrittenVideo, tmp_path: Path, flag: str, value: str, accepted: str
) -> None:
    result = _reelsight(
        "run", clip_5s.path, "--model", "ssdlite", "--weights", "random", f"{flag}={value}",
        "--out", tmp_path / "o",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()  # one line, no traceback
    assert line.startswith("reelsight: error: ") and accepted in line
    assert len(line) < 200  # a huge value is shortened, not echoed
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_a_capture_avi_with_dropped_frames_runs_complete(
    dropped_frames_avi: WrittenVideo, tmp_path: Path
) -> None:
    """444 frames in its header, 68 in the file over 29.5 s: sampled completely, not partial."""
    out = tmp_path / "out"
    result = _reelsight(
        "run", dropped_frames_avi.path, "--model", "ssdlite", "--weights", "random", "--fps", "1",
        "--include", "none", "--out", out, "--no-progress",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = read_summary(out / "summary.json")
    assert summary.status == "ok" and not summary.partial
    assert summary.frames_sampled == 30
    assert not [warning for warning in summary.warnings if "truncated" in warning or "frames" in warning]
    assert summary.video["frame_count"] == 444


@pytest.mark.slow
def test_a_cut_off_capture_avi_exits_5(dropped_frames_avi: WrittenVideo, tmp_path: Path) -> None:
    cut = write_truncated(dropped_frames_avi.path, tmp_path / "cut.avi", fraction=0.5)
    out = tmp_path / "out"
    result = _reelsight(
        "run", cut, "--model", "ssdlite", "--weights", "random", "--fps", "1", "--include", "none",
        "--out", out, "--no-progress",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 5, result.stderr
    summary = read_summary(out / "summary.json")
    assert summary.status == "partial" and 10 <= summary.frames_sampled <= 16
    assert any("of its 29.500 s" in warning for warning in summary.warnings)


def test_unknown_model_exits_4(clip_5s: WrittenVideo, tmp_path: Path) -> None:
    result = _reelsight("run", clip_5s.path, "--model", "yolo", "--out", tmp_path / "o", cwd=tmp_path)
    assert result.returncode == 4
    assert "unknown model 'yolo'" in result.stderr


def test_offline_pretrained_exits_4_with_a_hint(clip_5s: WrittenVideo, tmp_path: Path) -> None:
    env_home = tmp_path / "torch-home"
    env_home.mkdir()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "reelsight",
            "run",
            str(clip_5s.path),
            "--model",
            "ssdlite",
            "--out",
            str(tmp_path / "o"),
        ],
        cwd=tmp_path,
        env={**os.environ, "TORCH_HOME": str(env_home), "HTTPS_PROXY": "http://127.0.0.1:9"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 4, result.stderr
    assert "cannot load pretrained weights for ssdlite" in result.stderr
    assert "--allow-random-fallback" in result.stderr


@pytest.mark.slow
def test_truncated_video_exits_5_with_results(clip_5s: WrittenVideo, tmp_path: Path) -> None:
    cut = write_truncated(clip_5s.path, tmp_path / "cut.mp4", fraction=0.5)
    out = tmp_path / "out"
    result = _reelsight(
        "run", cut, "--model", "ssdlite", "--weights", "random", "--out", out, "--no-progress",
        "--include", "masks",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 5, result.stderr
    assert read_summary(out / "summary.json").status == "partial"


def test_help_documents_every_option(tmp_path: Path) -> None:
    result = _reelsight("run", "--help", cwd=tmp_path)
    assert result.returncode == 0
    for flag in (
        "--model", "--weights", "--allow-random-fallback", "--preview", "--mode", "--every-seconds",
        "--start",
        "--end", "--max-frames", "--resize", "--size", "--batch-size", "--device", "--precision",
        "--score-threshold", "--backend", "--no-progress", "--out", "--fps", "--include", "--min-size",
    ):  # fmt: skip
        assert flag in result.stdout, flag
    assert "Exit codes" in result.stdout


def test_models_lists_the_registry(tmp_path: Path) -> None:
    result = _reelsight("models", cwd=tmp_path)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:5] == ["NAME", "TASK", "FRAMEWORK", "INPUT", "CLASSES"]
    row = next(line.split() for line in lines if line.startswith("maskrcnn "))
    assert row[:5] == ["maskrcnn", "instance_segmentation", "torchvision", "1333x800", "91"]
    assert any(line.startswith("deeplab_resnet101_citys") and "mxnet" in line for line in lines)
    listed = json.loads(_reelsight("models", "--json", cwd=tmp_path).stdout)
    by_name = {m["name"]: m for m in listed}
    assert by_name["deeplabv3_resnet50"]["num_classes"] == 21 and by_name["ssdlite"]["input_size"] == [
        320,
        320,
    ]
