"""The results viewer's pages and static files.

No auth: the pages hold no data; their data calls carry the token.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent.parent / "static"

router = APIRouter(include_in_schema=False)


@router.get("/")
def index_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


@router.get("/jobs/{job_id}")
def job_page(job_id: str) -> FileResponse:
    return FileResponse(STATIC_DIR / "job.html", media_type="text/html")


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")


def mount_static(app: FastAPI) -> None:
    """``/static``; a mount, which ``include_router`` would not carry over."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
