"""Synthetic videos shared by the core tests (written once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelsight.testing.videos import WrittenVideo, write_avi_with_dropped_frames, write_video


@pytest.fixture(scope="session")
def vfr_clip(videos_dir: Path) -> WrittenVideo:
    """Variable frame rate H.264 MP4 (frame durations 1, 2, 1, 3 x 1/30 s), keyframe every 15 frames."""
    return write_video(
        videos_dir / "vfr.mp4", seconds=3, fps=30, width=192, height=128, gop=15, variable_frame_rate=True
    )


@pytest.fixture(scope="session")
def vfr_mkv(videos_dir: Path) -> WrittenVideo:
    """The same kind of clip in Matroska, which has no per-frame sample index."""
    return write_video(
        videos_dir / "vfr.mkv", seconds=3, fps=30, width=192, height=128, gop=15, variable_frame_rate=True
    )


@pytest.fixture(scope="session")
def bframe_clip(videos_dir: Path) -> WrittenVideo:
    """25 fps with B-frames, so decode order differs from presentation order."""
    return write_video(
        videos_dir / "bframes.mp4", seconds=4, fps=25, width=192, height=128, gop=25, bframes=2
    )


@pytest.fixture(scope="session")
def odd_clip(videos_dir: Path) -> WrittenVideo:
    return write_video(videos_dir / "odd.mp4", seconds=1, fps=10, width=333, height=187)


@pytest.fixture(scope="session", params=[90, 180, 270])
def rotated_clip(request: pytest.FixtureRequest, videos_dir: Path) -> tuple[int, WrittenVideo]:
    rotation = int(request.param)
    clip = write_video(
        videos_dir / f"rot{rotation}.mp4", seconds=1, fps=10, width=192, height=128, rotation=rotation
    )
    return rotation, clip


@pytest.fixture(scope="session")
def long_clip(videos_dir: Path) -> WrittenVideo:
    """10 s at 30 fps, small frames: for streaming checks."""
    return write_video(videos_dir / "long.mp4", seconds=10, fps=30, width=160, height=128, gop=30)


@pytest.fixture(scope="session")
def dropped_frames_avi(videos_dir: Path) -> WrittenVideo:
    """A complete capture-style AVI: 444 frame slots in its header over 29.5 s, 68 real frames."""
    return write_avi_with_dropped_frames(videos_dir / "capture.avi")
