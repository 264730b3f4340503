"""im2rec .lst helpers, checked against hand-computed values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reelsight.annotations import (
    LstRecord,
    frame_labels,
    lst_line,
    parse_lst_line,
    read_lst,
    write_lst,
    xywh_to_relative_xyxy,
)
from reelsight.results import Detections, FrameResult


def test_xywh_to_relative_xyxy_hand_computed() -> None:
    # 500x400 image, box at (50, 100) of 200x100 px: 50/500, 100/400, 250/500, 200/400.
    assert xywh_to_relative_xyxy(50, 100, 200, 100, 500, 400) == (0.1, 0.25, 0.5, 0.5)
    assert xywh_to_relative_xyxy(0, 0, 500, 400, 500, 400) == (0.0, 0.0, 1.0, 1.0)
    # Past the right/bottom edge: clipped.
    assert xywh_to_relative_xyxy(450, 380, 100, 40, 500, 400) == (0.9, 0.95, 1.0, 1.0)
    with pytest.raises(ValueError, match="image size"):
        xywh_to_relative_xyxy(0, 0, 1, 1, 0, 10)
    with pytest.raises(ValueError, match="width and height"):
        xywh_to_relative_xyxy(0, 0, -1, 1, 10, 10)


def test_lst_line_hand_computed() -> None:
    line = lst_line(7, [(3, 0.1, 0.25, 0.5, 0.5), (0, 0.125, 0.0, 1.0, 0.3333333333)], "birds/a b.jpg")
    assert line == "7\t2\t5\t3\t0.1\t0.25\t0.5\t0.5\t0\t0.125\t0\t1\t0.333333\tbirds/a b.jpg"
    assert lst_line(0, [], "x.jpg") == "0\t2\t5\tx.jpg"


def test_lst_line_rejects_bad_labels() -> None:
    with pytest.raises(ValueError, match="relative"):
        lst_line(0, [(1, 10, 10, 20, 20)], "x.jpg")
    with pytest.raises(ValueError, match="5 values"):
        lst_line(0, [(1, 0.1, 0.1, 0.2)], "x.jpg")  # type: ignore[list-item]
    with pytest.raises(ValueError, match="tabs"):
        lst_line(0, [], "a\tb.jpg")


def test_parse_round_trip_and_extra_header() -> None:
    record = parse_lst_line("7\t2\t5\t3\t0.1\t0.25\t0.5\t0.5\tbirds/a.jpg\n")
    assert record == LstRecord(index=7, labels=[(3.0, 0.1, 0.25, 0.5, 0.5)], path="birds/a.jpg")
    assert parse_lst_line(record.to_line()) == record
    wide = parse_lst_line("1\t4\t5\t640\t480\t1\t0\t0\t1\t1\timg.png")
    assert wide.extra_header == [640.0, 480.0] and wide.labels == [(1.0, 0.0, 0.0, 1.0, 1.0)]


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("1\t2\timg.jpg", "expected"),
        ("1\t2\t5\t3\t0.1\timg.jpg", "multiple"),
        ("1\t2\t5\tx\t0\t0\t1\t1\timg.jpg", "non-numeric"),
        ("1\t1\t5\t3\t0\t0\t1\t1\timg.jpg", "bad header"),
        ("1\t2\t1\t3\timg.jpg", "label width 5"),
    ],
)
def test_parse_errors(line: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_lst_line(line)


def test_write_and_read_file(tmp_path: Path) -> None:
    records = [
        LstRecord(index=i, labels=[(float(i), 0.0, 0.5, 0.25, 1.0)], path=f"img/{i}.jpg") for i in range(3)
    ]
    path = tmp_path / "train.lst"
    assert write_lst(path, records) == 3
    assert path.read_text().splitlines()[1] == "1\t2\t5\t1\t0\t0.5\t0.25\t1\timg/1.jpg"
    assert list(read_lst(path)) == records
    path.write_text(path.read_text() + "\n9\t2\t5\tbroken.jpg\t?\n")
    with pytest.raises(ValueError, match=r"train.lst:5"):
        list(read_lst(path))


def test_frame_labels_from_detections() -> None:
    frame = FrameResult(
        frame_index=0,
        timestamp=0.0,
        width=400,
        height=200,
        detections=Detections(
            xyxy=np.array([[40, 20, 200, 100], [0, 0, 400, 200], [10, 10, 20, 20]], np.float32),
            labels=np.array([1, 3, 1]),
            scores=np.array([0.9, 0.6, 0.2]),
            class_names=["person", "car", "person"],
        ),
    )
    assert frame_labels(frame, min_score=0.5) == [(1.0, 0.1, 0.1, 0.5, 0.5), (3.0, 0.0, 0.0, 1.0, 1.0)]
    assert frame_labels(frame, {"car": 0}) == [(0.0, 0.0, 0.0, 1.0, 1.0)]
    assert frame_labels(FrameResult(frame_index=0, timestamp=0, width=1, height=1)) == []
