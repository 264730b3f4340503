"""The reelsight API server and results viewer (FastAPI); ``create_app`` builds it from the environment."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI


def create_app(*args: Any, **kwargs: Any) -> FastAPI:
    from reelsight.api.app import create_app as build

    return build(*args, **kwargs)


__all__ = ["create_app"]
