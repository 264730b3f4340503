"""The one way back in the jobs table: a PARTIAL or FAILED job resumes as its next attempt, once."""

from __future__ import annotations

import pytest

from reelsight.contract.jobs import JobRecord, JobsTable, JobStatus, history_entry, now_iso
from tests.api.support import ApiResources


def _ended(table: JobsTable, job_id: str, status: JobStatus) -> None:
    moment = now_iso()
    table.create(
        JobRecord(
            job_id=job_id,
            status=JobStatus.QUEUED,
            kind="batch",
            attempt=1,
            created_at=moment,
            status_history=[history_entry(JobStatus.QUEUED, moment)],
        )
    )
    table.transition(job_id, status, reason="1 of 2 part(s) failed", fields={"failed_parts": ["b"]})


@pytest.mark.parametrize("ended", [JobStatus.PARTIAL, JobStatus.FAILED])
def test_a_partial_or_failed_job_resumes_once_as_the_next_attempt(
    resources: ApiResources, ended: JobStatus
) -> None:
    table = JobsTable(resources.dynamodb, resources.table)
    _ended(table, "j1", ended)

    assert table.resume("j1", attempt=2, reason="resumed as attempt 2", fields={"resumed_by": "r1"})
    job = table.get("j1")
    assert job is not None and job.status == JobStatus.QUEUED and job.attempt == 2 and job.resumed_by == "r1"
    assert (job.finished_at, job.reason, job.failed_parts) == (None, None, None)
    assert [h["status"] for h in job.status_history or []] == ["QUEUED", ended.value, "QUEUED"]
    assert (job.status_history or [])[-1]["reason"] == "resumed as attempt 2"
    # Not again: the job is QUEUED now, and an attempt never repeats.
    assert not table.resume("j1", attempt=2, reason="again")
    # From QUEUED it moves forward as any job does.
    assert table.transition("j1", JobStatus.RUNNING).applied


def test_a_succeeded_or_running_job_does_not_resume(resources: ApiResources) -> None:
    table = JobsTable(resources.dynamodb, resources.table)
    _ended(table, "j2", JobStatus.SUCCEEDED)
    assert not table.resume("j2", attempt=2, reason="resumed as attempt 2")
    assert not table.resume("missing", attempt=2, reason="resumed as attempt 2")
    _ended(table, "j3", JobStatus.FAILED)
    assert not table.resume("j3", attempt=2, reason="only PARTIAL", statuses={JobStatus.PARTIAL})
    with pytest.raises(ValueError, match="PARTIAL or FAILED"):
        table.resume("j3", attempt=2, reason="x", statuses={JobStatus.SUCCEEDED})
    job = table.get("j2")
    assert job is not None and job.status == JobStatus.SUCCEEDED and job.attempt == 1
