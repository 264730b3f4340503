"""Errors that carry a message meant for the user, each mapped to an HTTP status and exit code."""

from __future__ import annotations


class ReelsightError(Exception):
    """Base class. ``http_status`` is what the worker answers; ``exit_code`` what the CLI returns."""

    http_status = 500
    exit_code = 1


class ParamError(ReelsightError, ValueError):
    """A parameter is missing, malformed or out of range."""

    http_status = 400
    exit_code = 2


class VideoError(ReelsightError):
    """The input is not a decodable video (empty, not a video, no video stream, ...)."""

    http_status = 422
    exit_code = 3


class UnsupportedMediaError(VideoError):
    """The input is not a video container at all."""

    http_status = 415


class ModelError(ReelsightError):
    """A model name is unknown or its weights cannot be loaded."""

    http_status = 400
    exit_code = 4
