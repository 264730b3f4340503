"""``/healthz``: no auth, no AWS calls."""

from __future__ import annotations

from fastapi import APIRouter

from reelsight import __version__
from reelsight.api import schemas

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=schemas.Health)
def healthz() -> dict[str, str]:
    return {"status": "ok", "version": __version__}
