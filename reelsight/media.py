"""Video file suffixes and their content types, shared by the dispatcher and the API (stdlib only)."""

from __future__ import annotations

import posixpath

# What the dispatcher and the API accept by default (REELSIGHT_VIDEO_SUFFIXES overrides it).
VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts")

VIDEO_CONTENT_TYPES: dict[str, str] = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".avi": "video/x-msvideo",
    ".mpg": "video/mpeg",
    ".mpeg": "video/mpeg",
    ".ts": "video/mp2t",
}

OCTET_STREAM = "application/octet-stream"


def video_content_type(name: str) -> str:
    """The content type of a video file name or S3 key, by suffix (case-insensitive)."""
    return VIDEO_CONTENT_TYPES.get(posixpath.splitext(name)[1].lower(), OCTET_STREAM)
