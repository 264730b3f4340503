"""Pure logic of the API: upload names, and job records (as the contract reads them) as responses.

Paging tokens and the tolerant reading of stored items are the contract's: tests/contract/test_jobs.py.
"""

from __future__ import annotations

import pytest

from reelsight.api.schemas import suffix_pattern
from reelsight.api.store import StoreError, safe_filename
from reelsight.api.views import frame_index_of, list_item, progress_view
from reelsight.contract.jobs import JobRecord
from tests.api.support import live


def record(**item: object) -> JobRecord:
    """A stored item as the API reads it (through the contract's reader)."""
    return JobRecord.from_item({"job_id": "j", **item})


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("clip.mp4", "clip.mp4"),
        ("My Holiday (1).MOV", "My_Holiday__1_.MOV"),
        ("../../etc/.mp4", "video.mp4"),
        ("C:\\videos\\ünïcode.mkv", "_n_code.mkv"),
        ("...hidden.webm", "hidden.webm"),
        ("x" * 300 + ".ts", "x" * 150 + ".ts"),
    ],
)
def test_safe_filename(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


@pytest.mark.parametrize("name", ["notes.txt", "mp4", "clip.mp4.exe", ""])
def test_safe_filename_refuses_non_videos(name: str) -> None:
    with pytest.raises(StoreError) as error:
        safe_filename(name)
    assert error.value.status == 400


def test_suffix_pattern_is_case_insensitive_without_flags() -> None:
    import re

    pattern = re.compile(suffix_pattern((".mp4", ".mov")))
    assert pattern.match("a.MP4") and pattern.match("b.mOv") and pattern.match("x/y.mp4")
    assert not pattern.match("a.mp4.txt") and not pattern.match("mp4")


def test_progress_view_sums_videos_and_tolerates_odd_records() -> None:
    running = record(
        status="RUNNING",
        progress={
            "a.mp4": {"frames_done": 5, "frames_total": 10},
            "b.mp4": {"frames_done": 5, "frames_total": 30},
            "junk": "not a map",
            "neg": {"frames_done": -3},
        },
    )
    assert progress_view(running) == {
        "frames_done": 10,
        "frames_total": 40,
        "fraction": 0.25,
        # entries older writers left: no stage, rates or ETA; the stage reads as running
        **live(25.0),
        "videos": {
            "a.mp4": {"frames_done": 5, "frames_total": 10, "updated_at": None, **live(50.0)},
            "b.mp4": {"frames_done": 5, "frames_total": 30, "updated_at": None, **live(16.7)},
        },
    }
    unknown_total = progress_view(record(progress={"a": {"frames_done": 7}}))
    assert unknown_total["frames_total"] is None and unknown_total["fraction"] is None
    assert progress_view(record(status="SUCCEEDED"))["fraction"] == 1.0
    assert progress_view(record(status="completed"))["fraction"] == 1.0  # an older writer's spelling
    assert progress_view(record(progress='{"a": {"frames_done": 2, "frames_total": 4}}'))["fraction"] == 0.5


def test_list_item_shows_times_in_the_one_format_and_odd_values_as_text() -> None:
    item = list_item(record(status="queued", created_at=1793534400, reason={"code": 1}))
    assert item["status"] == "QUEUED"
    assert item["created_at"] == "2026-11-01T12:00:00.000Z"
    assert item["reason"] == '{"code": 1}'
    assert list_item(record(created_at="not a time"))["created_at"] == "not a time"
    assert list_item(record(status="PAUSED"))["status"] == "PAUSED"  # no writer's status, shown as stored


@pytest.mark.parametrize(
    ("key", "index"),
    [
        ("jobs/j/artifacts/frames/frame_000030.jpg", 30),
        ("jobs/j/artifacts/frames/000012_t1.5.jpg", 12),
        ("frames/x.jpg", None),
    ],
)
def test_frame_index_of(key: str, index: int | None) -> None:
    assert frame_index_of(key) == index


def test_listen_address_from_options_then_environment() -> None:
    import argparse

    from reelsight.cli.api import listen_address
    from reelsight.errors import ParamError

    def args(host: str | None = None, port: int | None = None) -> argparse.Namespace:
        return argparse.Namespace(host=host, port=port)

    assert listen_address(args(), {}) == ("127.0.0.1", 8000)
    assert listen_address(args(), {"REELSIGHT_HOST": "0.0.0.0", "REELSIGHT_PORT": "9001"}) == (
        "0.0.0.0",
        9001,
    )
    assert listen_address(args("127.0.0.1", 8123), {"REELSIGHT_PORT": "9001"}) == ("127.0.0.1", 8123)
    for bad in ({"REELSIGHT_PORT": "http"}, {"REELSIGHT_PORT": "70000"}):
        with pytest.raises(ParamError):
            listen_address(args(), bad)
