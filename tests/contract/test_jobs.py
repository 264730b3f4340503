"""The jobs table's contract on its own: statuses, the time format, the record shape, the codec and
page tokens (tests/contract/test_job_seams.py runs the producers and readers against each other)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from decimal import Decimal

import pytest

from reelsight.contract.jobs import (
    ALLOWED_FROM,
    TERMINAL,
    InvalidPageToken,
    JobRecord,
    JobStatus,
    can_transition,
    decode_item,
    decode_page_token,
    encode_item,
    encode_page_token,
    iso,
    now_iso,
    parse_time,
    seconds_between,
    terminal_spellings,
    time_text,
)

ONE_FORMAT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_statuses_move_forward_only_and_rejected_is_only_created() -> None:
    assert set(JobStatus) == {"QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "REJECTED", "PARTIAL"}
    assert {s for s in JobStatus if s.terminal} == TERMINAL == {"SUCCEEDED", "FAILED", "REJECTED", "PARTIAL"}
    allowed = {(old, new) for new in JobStatus for old in JobStatus if can_transition(old, new)}
    forward = {("QUEUED", "RUNNING")} | {(old, new) for old in ("QUEUED", "RUNNING") for new in TERMINAL}
    assert allowed == forward - {("QUEUED", "REJECTED"), ("RUNNING", "REJECTED")}
    assert all(not ALLOWED_FROM[status] for status in (JobStatus.QUEUED, JobStatus.REJECTED))
    assert all(can_transition(None, status) for status in JobStatus)  # a job the table does not hold yet


def test_statuses_are_read_in_any_case_and_in_older_spellings() -> None:
    assert JobStatus.read("succeeded") is JobStatus.SUCCEEDED
    assert JobStatus.read(" Running ") is JobStatus.RUNNING
    assert JobStatus.read("completed") is JobStatus.SUCCEEDED
    assert JobStatus.read("expired") is JobStatus.FAILED
    assert JobStatus.read("PAUSED") is None and JobStatus.read(3) is None
    spellings = terminal_spellings()
    assert {"SUCCEEDED", "failed", "completed", "stopped", "PARTIAL"} <= set(spellings)
    assert not {"QUEUED", "queued", "RUNNING", "running"} & set(spellings)


def test_one_time_format_and_one_tolerant_reader() -> None:
    assert ONE_FORMAT.match(now_iso())
    moment = dt.datetime(2026, 1, 1, 1, 0, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert iso(moment) == "2026-01-01T00:00:00.123Z"
    assert iso(dt.datetime(2026, 1, 1)) == "2026-01-01T00:00:00.000Z"  # naive means UTC
    same = parse_time("2026-01-01T00:00:00Z")
    assert same is not None and same.tzinfo is not None
    for spelling in (1767225600, 1767225600000, "1767225600", Decimal(1767225600), "2026-01-01t00:00:00z",
                     "2026-01-01T01:00:00+01:00", "2026-01-01 00:00:00"):  # fmt: skip
        assert parse_time(spelling) == same, spelling
    for unreadable in (None, True, "garbage", "", 0, -5, float("nan"), 10**30, [1]):
        assert parse_time(unreadable) is None, unreadable
    assert seconds_between("2026-01-01T00:00:00Z", 1767225610500) == 10.5
    assert seconds_between("2026-01-01T00:00:10Z", "2026-01-01T00:00:00Z") == 0.0
    assert seconds_between(None, "2026-01-01T00:00:00Z") is None
    assert time_text(1793534400) == "2026-11-01T12:00:00.000Z"
    assert time_text("not a time") == "not a time" and time_text("") is None


def test_the_codec_round_trips_what_the_writers_store() -> None:
    item = {
        "job_id": "j",
        "status": JobStatus.SUCCEEDED,
        "size_bytes": 12,
        "durations": {"total_seconds": 1.5, "gone": None, "nan": float("nan")},
        "flags": [True, None, 2.25, "x"],
        "empty": {},
        "skipped": None,
    }
    encoded = encode_item(item)
    assert "skipped" not in encoded
    assert encoded["status"] == {"S": "SUCCEEDED"}
    assert encoded["durations"] == {"M": {"total_seconds": {"N": "1.5"}}}
    assert encoded["flags"] == {"L": [{"BOOL": True}, {"NULL": True}, {"N": "2.25"}, {"S": "x"}]}
    assert decode_item(encoded) == {
        "job_id": "j",
        "status": "SUCCEEDED",
        "size_bytes": 12,
        "durations": {"total_seconds": 1.5},
        "flags": [True, None, 2.25, "x"],
        "empty": {},
    }
    assert decode_item({"b": {"B": b"hi"}, "ss": {"SS": ["b", "a"]}, "ns": {"NS": ["2", "1.5"]}}) == {
        "b": "aGk=",
        "ss": ["a", "b"],
        "ns": [1.5, 2],
    }
    with pytest.raises(TypeError):
        encode_item({"when": dt.datetime.now()})


def test_the_record_names_every_attribute_the_docs_list() -> None:
    """docs/lambdas.md's table of the jobs table's attributes and JobRecord's fields are one set."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "lambdas.md").read_text()
    section = doc.split("## The jobs table", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    documented = {name for cell in rows for name in re.findall(r"`([a-z_]+)`", cell)}
    assert documented == {f.name for f in dataclasses.fields(JobRecord)} - {"extra"}


def test_reading_keeps_every_attribute_and_tolerates_older_writers() -> None:
    stored = {
        "job_id": "j",
        "status": "completed",
        "created_at": 1793534400,
        "params": '{"fps": "2"}',
        "options": ["not", "a", "map"],
        "reason": {"code": 1},
        "status_history": [{"status": "queued", "at": "x"}, "RUNNING"],
        "someone_elses": {"kept": True},
    }
    record = JobRecord.from_item(stored)
    assert record.status is JobStatus.SUCCEEDED and record.terminal
    assert record.created_at == "2026-11-01T12:00:00.000Z"
    assert record.params == {"fps": "2"}
    assert record.options is None and record.extra["options"] == ["not", "a", "map"]
    assert record.reason == '{"code": 1}'
    assert record.status_history == [{"status": "QUEUED", "at": "x"}, {"status": "RUNNING"}]
    assert record.extra["someone_elses"] == {"kept": True}
    again = record.to_item()
    assert list(again)[0] == "job_id" and again["status"] == "SUCCEEDED"
    assert again["options"] == ["not", "a", "map"] and again["someone_elses"] == {"kept": True}
    assert JobRecord.from_item(again) == record

    odd = JobRecord.from_item({"job_id": "k", "status": "PAUSED"})
    assert odd.status is None and odd.status_text == "PAUSED" and not odd.terminal
    assert odd.to_item() == {"job_id": "k", "status": "PAUSED"}
    with pytest.raises(ValueError, match="job_id"):
        JobRecord.from_item({"status": "QUEUED"})


def test_page_tokens_round_trip_and_are_checked() -> None:
    key = {"job_id": {"S": "abc"}, "status": {"S": "FAILED"}, "created_at": {"S": "2026-11-01T00:00:00.000Z"}}
    token = encode_page_token("index", key)
    assert decode_page_token(token, "index", JobStatus.FAILED) == key
    for bad in (
        lambda: decode_page_token(token, "index", "SUCCEEDED"),  # another status
        lambda: decode_page_token(token, "scan", None),  # another kind of query
        lambda: decode_page_token("!!!", "scan", None),
        lambda: decode_page_token(encode_page_token("scan", {"job_id": {"B": "eA=="}}), "scan", None),
        lambda: decode_page_token(
            encode_page_token("scan", {"job_id": {"S": "a"}, "x": {"S": "b"}}), "scan", None
        ),
    ):
        with pytest.raises(InvalidPageToken):
            bad()
