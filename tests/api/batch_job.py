"""A batch job as the dispatcher plans it and the results handler ends it, for the API and CLI tests."""

from __future__ import annotations

import uuid

from reelsight.contract.batch import PartError, PartMarker, error_key, marker_key, plan_batch, plan_key
from reelsight.contract.jobs import JobRecord, JobsTable, JobStatus, now_iso
from tests.api.support import ApiResources


def batch_job(resources: ApiResources, status: JobStatus, *, with_plan: bool = True) -> str:
    """A three-video batch job as the dispatcher plans it: plan.json, one record per video and the
    batch's own record, which the results handler has ended in ``status``; video 1 finished (its
    marker), video 2 failed (its error record), video 3 has neither."""
    job_id = uuid.uuid4().hex
    videos = [f"s3://{resources.input_bucket}/clips/{name}.mp4" for name in ("a", "b", "c")]
    plan = plan_batch(job_id, videos, options={"fps": "2"})
    table = JobsTable(resources.dynamodb, resources.table)
    if with_plan:
        resources.s3.put_object(Bucket=resources.results_bucket, Key=plan_key(job_id), Body=plan.to_json())
    a, b, _ = plan.parts
    marker = PartMarker(part_id=a.part_id, status="ok", frames=10, seconds=1.5, host="algo-1")
    resources.s3.put_object(
        Bucket=resources.results_bucket, Key=marker_key(job_id, a.part_id), Body=marker.to_json()
    )
    error = PartError(
        part_id=b.part_id, video=b.video, type="DecodeError", message="no frames", host="algo-2"
    )
    resources.s3.put_object(
        Bucket=resources.results_bucket, Key=error_key(job_id, b.part_id), Body=error.to_json()
    )
    for part in plan.parts:
        assert part.job_id
        table.create(
            JobRecord(
                job_id=part.job_id,
                status=JobStatus.QUEUED,
                batch_id=job_id,
                part_id=part.part_id,
                source=part.video,
                created_at=now_iso(),
            )
        )
    table.create(
        JobRecord(
            job_id=job_id,
            status=status,
            kind="batch",
            parts=3,
            route="processing",
            failed_parts=[b.part_id, "c"],
            created_at=now_iso(),
        )
    )
    return job_id
