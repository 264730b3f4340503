"""The progress channel: VideoProgress and job_progress, the worker's rate-limited table writer, the
forward-only write, result parts, and the results Lambda's PARTIAL vs FAILED on a failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reelsight.contract.jobs import JobsTable, JobStatus, ProgressResult, now_iso
from reelsight.contract.names import part_key, parts_prefix
from reelsight.contract.progress import VideoProgress, job_progress
from reelsight.worker.live import LiveJob, PartPolicy, PartUploader, TableProgress
from tests.contract.job_chain import JobChain


def test_video_progress_round_trips_and_reads_old_entries() -> None:
    full = VideoProgress("running", 30, 120, 12.345, 8.0, 11.25, 2, now_iso())
    assert VideoProgress.from_json(full.to_json()) == VideoProgress(
        "running", 30, 120, 12.35, 8.0, 11.25, 2, full.updated_at
    )
    assert full.percent == 25.0
    old = VideoProgress.from_json(
        {"frames_done": 5, "frames_total": 10, "updated_at": "2026-01-01T00:00:00Z"}
    )
    assert (old.stage, old.frames_done, old.frames_total, old.parts, old.decode_fps) == (
        "running",
        5,
        10,
        0,
        None,
    )
    assert old.percent == 50.0
    junk = VideoProgress.from_json(
        {"stage": "?", "frames_done": -3, "frames_total": True, "eta_seconds": "x"}
    )
    assert (junk.frames_done, junk.frames_total, junk.eta_seconds, junk.percent) == (0, None, None, None)
    assert VideoProgress("done", 7, None).percent == 100.0
    assert "decode_fps" not in VideoProgress("loading", 0).to_json()


def test_job_progress_sums_a_jobs_videos() -> None:
    assert job_progress(None) is None and job_progress({}) is None
    total = job_progress(
        {
            "a.mp4": VideoProgress("done", 10, 10, 5.0, 4.0, 0.0, 1, "2026-01-01T00:00:02.000Z").to_json(),
            "b.mp4": VideoProgress("running", 5, 20, 3.0, None, 9.0, 2, "2026-01-01T00:00:05.000Z").to_json(),
            "c.mp4": "not an entry",
        }
    )
    assert total == VideoProgress("running", 15, 30, 8.0, 4.0, 9.0, 3, "2026-01-01T00:00:05.000Z")
    unknown = job_progress({"a": {"frames_done": 1}, "b": {"frames_done": 2, "frames_total": 4}})
    assert unknown is not None and unknown.frames_total is None and unknown.percent is None


def test_part_keys_are_ordered_and_one_based() -> None:
    assert parts_prefix("j1") == "jobs/j1/artifacts/parts/"
    assert part_key("j1", 1) == "jobs/j1/artifacts/parts/frames-00001.jsonl"
    assert part_key("j1", 12) < part_key("j1", 100)
    with pytest.raises(ValueError):
        part_key("j1", 0)


# --- the worker's writer ---


class FakeJobs:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[tuple[str, Any]] = []

    def transition(self, job_id: str, status: JobStatus, **kwargs: Any) -> None:
        self.calls.append(("transition", status))

    def record_progress(self, job_id: str, video: str, done: int, total: int | None, **kw: Any) -> None:
        if self.fail:
            raise ConnectionError("the table cannot be reached")
        self.calls.append(("progress", kw["entry"]))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_at_most_one_write_every_two_seconds_plus_the_final_one() -> None:
    jobs, clock = FakeJobs(), FakeClock()
    writer = TableProgress(jobs, "j1", "v.mp4", min_interval=2.0, clock=clock)  # type: ignore[arg-type]
    writer.start()
    queued = []
    for done in range(1, 101):  # one update every 0.1 s for 10 s
        queued.append(writer.update(VideoProgress("running", done, 100)))
        clock.now += 0.1
    writer.update(VideoProgress("done", 100, 100), final=True)
    writer.close()
    progress = [entry for kind, entry in jobs.calls if kind == "progress"]
    assert jobs.calls[0] == ("transition", JobStatus.RUNNING)
    assert len(progress) == 5 + 1, progress  # t=0, 2, 4, 6, 8 and the final one
    assert [e["frames_done"] for e in progress] == [1, 21, 41, 61, 81, 100]
    assert progress[-1]["stage"] == "done" and sum(queued) == 5


def test_an_unreachable_table_never_fails_the_job() -> None:
    jobs = FakeJobs(fail=True)
    writer = TableProgress(jobs, "j1", "v.mp4")  # type: ignore[arg-type]
    assert writer.update(VideoProgress("running", 1, 2))
    writer.update(VideoProgress("done", 2, 2), final=True)
    writer.close()
    assert writer.failures == 2 and writer.writes == 0


def test_parts_concatenate_to_frames_jsonl(tmp_path: Path) -> None:
    stored: dict[str, bytes] = {}

    class FakeS3:
        def put_object(self, *, Bucket: str, Key: str, Body: bytes, **_: Any) -> None:  # noqa: N803
            stored[Key] = Body

    frames = tmp_path / "frames.jsonl"
    clock = FakeClock()
    parts = PartUploader(FakeS3(), "b", "j1", frames, policy=PartPolicy(3, 30.0), clock=clock)
    live = LiveJob(None, parts)
    with frames.open("w") as out:
        for i in range(1, 9):
            out.write(f'{{"frame_index":{i}}}\n')
            out.flush()
            if i == 5:
                out.write('{"half a li')  # a line being written goes into no part yet
                out.flush()
            live(VideoProgress("running", i, 8))
            if i == 5:
                out.write('ne":1}\n')
    live.finish(ok=True)
    assert sorted(stored) == [part_key("j1", n) for n in range(1, len(stored) + 1)]
    assert b"".join(stored[k] for k in sorted(stored)) == frames.read_bytes()
    assert live.last is not None and live.last.parts == len(stored) - 1  # the last part came with finish


# --- the table ---


def test_a_backwards_write_is_a_no_op_and_a_finished_job_takes_none(chain: JobChain) -> None:
    job = chain.upload("incoming/progress.mp4")
    table: JobsTable = chain.table
    assert table.transition(job.job_id, JobStatus.RUNNING, must_exist=True).applied
    entry = VideoProgress("running", 10, 40, 5.0, 4.0, 7.5, 1).to_json()
    assert table.record_progress(job.job_id, "v.mp4", 10, 40, entry=entry).result == ProgressResult.APPLIED
    stored = chain.job(job.job_id).progress
    assert stored is not None and VideoProgress.from_json(stored["v.mp4"]).parts == 1
    back = table.record_progress(job.job_id, "v.mp4", 5, 40, entry={**entry, "frames_done": 5})
    assert back.result == ProgressResult.BACKWARD
    assert chain.job(job.job_id).progress == stored
    assert not table.transition("no-such-job", JobStatus.RUNNING, must_exist=True).applied
    assert table.get("no-such-job") is None
    chain.fail_async(chain.job(job.job_id), "boom")
    late = table.record_progress(job.job_id, "v.mp4", 20, 40, entry=entry)
    assert late.result == ProgressResult.FINISHED


def test_a_failure_after_parts_ends_partial_else_failed(chain: JobChain) -> None:
    with_parts = chain.upload("incoming/with-parts.mp4")
    chain.table.transition(with_parts.job_id, JobStatus.RUNNING, must_exist=True)
    entry = VideoProgress("running", 30, 120, parts=2).to_json()
    chain.table.record_progress(with_parts.job_id, "v.mp4", 30, 120, entry=entry)
    ended = chain.fail_async(chain.job(with_parts.job_id), "decode error at 00:31")
    assert ended.status == JobStatus.PARTIAL
    assert ended.reason is not None and ended.reason.startswith("stopped after 30 of 120 frames: ")
    assert "decode error at 00:31" in ended.reason

    without = chain.upload("incoming/without-parts.mp4")
    chain.table.transition(without.job_id, JobStatus.RUNNING, must_exist=True)
    chain.table.record_progress(
        without.job_id, "v.mp4", 3, 120, entry=VideoProgress("running", 3, 120).to_json()
    )
    assert chain.fail_async(chain.job(without.job_id), "killed").status == JobStatus.FAILED
