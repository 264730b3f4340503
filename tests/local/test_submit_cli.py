"""`reelsight submit/status/fetch` errors that need no running stack."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reelsight", *args], capture_output=True, text=True, check=False
    )


@pytest.fixture()
def video(tmp_path: Path) -> Path:
    path = tmp_path / "v.mp4"
    path.write_bytes(b"\x00" * 10)
    return path


def test_no_local_stack_is_a_clear_error(tmp_path: Path, video: Path) -> None:
    result = run("submit", str(video), "--target", "local", "--state-dir", str(tmp_path / "none"))
    assert result.returncode == 5
    assert "reelsight local up" in result.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--param", "fps"], "KEY=VALUE"),
        (["--include", "masks,preview"], "must not contain"),
    ],
)
def test_bad_options_are_rejected_before_upload(video: Path, args: list[str], fragment: str) -> None:
    result = run("submit", str(video), "--target", "local", *args)
    assert result.returncode == 2
    assert fragment in result.stderr


def test_missing_file(tmp_path: Path) -> None:
    result = run("submit", str(tmp_path / "missing.mp4"), "--target", "local")
    assert result.returncode == 2 and "no such file" in result.stderr


def test_status_needs_a_stack(tmp_path: Path) -> None:
    result = run("status", "--target", "local", "--state-dir", str(tmp_path))
    assert result.returncode == 5
