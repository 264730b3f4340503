"""Fixtures shared by every test package. Area-specific fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from reelsight.testing.moto_server import MotoServer
from reelsight.testing.videos import WrittenVideo, write_video

REPO_ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO_ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def videos_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("videos")


@pytest.fixture(scope="session")
def clip_5s(videos_dir: Path) -> WrittenVideo:
    """5 s, 30 fps, 320x240 H.264 with a keyframe every second."""
    return write_video(videos_dir / "clip5s.mp4", seconds=5, fps=30, width=320, height=240, gop=30)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One moto server per test session; tests that need a clean slate call ``reset()``."""
    with MotoServer() as server:
        yield server


@pytest.fixture()
def aws_env(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """Point boto3 in this process at the session's moto server with fake credentials."""
    for key, value in moto_server.client_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_server


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "2")
