"""Fixtures for the MXNet backend's tests (run in .venv-mxnet: `make mx-test`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from reelsight.testing.videos import WrittenVideo, write_video

REPO_ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    os.environ.setdefault("MXNET_SUBGRAPH_VERBOSE", "0")
    # gluoncv and mxnet 1.9 use APIs that newer numpy/scipy/setuptools deprecate; not ours to fix.
    for module in ("gluoncv", "mxnet", "scipy", "distutils"):
        config.addinivalue_line("filterwarnings", f"ignore::DeprecationWarning:{module}.*")
    config.addinivalue_line("filterwarnings", "ignore::UserWarning:mxnet.*")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def mx_python() -> str:
    return sys.executable


@pytest.fixture(scope="session")
def clip_3s(tmp_path_factory: pytest.TempPathFactory) -> WrittenVideo:
    """3 s, 10 fps, 320x240 H.264, a keyframe every second."""
    directory = tmp_path_factory.mktemp("videos")
    return write_video(directory / "clip3s.mp4", seconds=3, fps=10, width=320, height=240, gop=10)
