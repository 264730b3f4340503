"""s3://bucket/key strings."""

from __future__ import annotations

from urllib.parse import urlsplit


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``(bucket, key)``; ValueError for anything else."""
    parts = urlsplit(uri)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an s3:// uri: {uri!r}")
    key = uri[len(f"s3://{parts.netloc}/") :] if uri.startswith(f"s3://{parts.netloc}/") else ""
    return parts.netloc, key
