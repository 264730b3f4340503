"""``GET /v1/jobs/{id}/tracks``: the tracks.jsonl of a run with track set, as the run wrote it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from reelsight.api import schemas
from reelsight.api.routes.deps import AUTHORIZED, ERRORS, JobId, Store
from reelsight.api.store import StoreError
from reelsight.api.views import result_parts
from reelsight.contract.names import SUMMARY_FILE, TRACKS_FILE

NDJSON = "application/x-ndjson"
TRACKS_CONTENT: dict[str, Any] = {
    "description": "tracks.jsonl: one JSON object per tracked object and line (docs/results-format.md), "
    "written when the run ends; only runs with track set have one.",
    "content": {NDJSON: {"schema": {"type": "string"}}},
}
NO_TRACKS: dict[int | str, dict[str, Any]] = {
    404: {
        "model": schemas.ErrorBody,
        "description": "No such job, no result yet, or the run did not track (submit it with track=true).",
    }
}

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=AUTHORIZED)


@router.get(
    "/{job_id}/tracks",
    response_class=StreamingResponse,
    responses={200: TRACKS_CONTENT, **ERRORS, **NO_TRACKS},
)
def get_tracks(job_id: JobId, store: Store) -> StreamingResponse:
    record = store.get_job(job_id)
    if record is None:
        raise StoreError(404, f"no job with id {job_id}")
    objects = store.list_job_objects(job_id)
    final = result_parts(objects)
    if final is None:
        raise StoreError(404, f"job {job_id} has no result yet (status: {record.status_text})")
    key = final[0][: -len(SUMMARY_FILE)] + TRACKS_FILE
    if key not in {o["key"] for o in objects}:
        raise StoreError(404, f"job {job_id} was not tracked: submit the video with track=true for tracks")
    return StreamingResponse(store.open_object(key), media_type=NDJSON)
