"""``/v1/uploads``: presigned PUT URLs for videos, with fps/model checked before the upload."""

# No `from __future__ import annotations`: FastAPI resolves the body type of post_upload, which is
# built per app (the accepted video suffixes are a setting).
from typing import Annotated, Any, cast

from fastapi import APIRouter, Body

from reelsight.api import schemas
from reelsight.api.routes.deps import AUTHORIZED, BAD_REQUEST, ERRORS, Store
from reelsight.api.store import StoreError
from reelsight.errors import ReelsightError


def uploads_router(video_suffixes: tuple[str, ...]) -> APIRouter:
    """The router for one app: its upload body accepts only ``video_suffixes``."""
    router = APIRouter(tags=["uploads"], dependencies=AUTHORIZED)
    UploadRequest = schemas.upload_request_model(video_suffixes)

    @router.post("/v1/uploads", response_model=schemas.UploadTicket, responses={**ERRORS, **BAD_REQUEST})
    def post_upload(request: Annotated[UploadRequest, Body()], store: Store) -> dict[str, Any]:  # type: ignore[valid-type]
        upload = cast(schemas.UploadOptions, request)
        metadata = _upload_metadata(upload)
        filename = str(upload.model_dump()["filename"])
        return store.presign_upload(filename=filename, content_type=upload.content_type, metadata=metadata)

    return router


def _upload_metadata(request: schemas.UploadOptions) -> dict[str, str]:
    """fps/model/track as S3 user metadata, checked the way the dispatcher will parse them."""
    from reelsight.contract.options import check_tracking, with_tracking_rate
    from reelsight.models.registry import get_spec
    from reelsight.params import RunOptions

    metadata: dict[str, str] = {}
    if request.fps is not None:
        metadata["fps"] = format(request.fps, "g")
    if request.model is not None:
        metadata["model"] = request.model.strip().lower()
        try:
            get_spec(metadata["model"])
        except ReelsightError as exc:
            raise StoreError(400, str(exc)) from None
    if request.track is not None:
        metadata["track"] = "true" if request.track else "false"
    if metadata:  # ParamError -> 400, also for tracking with a model that outputs no boxes
        check_tracking(RunOptions().with_overrides(with_tracking_rate(metadata)).validate())
    return metadata
