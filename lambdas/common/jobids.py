"""Deterministic job ids: the same uploaded object always maps to the same job."""

from __future__ import annotations

import hashlib

PROCESSING_JOB_PREFIX = "reelsight-"
JOB_ID_LENGTH = 32


def object_version(version_id: str | None, etag: str | None, sequencer: str | None = None) -> str:
    """What tells two uploads of one key apart: the version id, else the ETag (moto omits version ids)."""
    if version_id and version_id != "null":
        return f"v:{version_id}"
    if etag:
        return "e:" + etag.strip().strip('"')
    return f"s:{sequencer or ''}"


def job_id_for(bucket: str, key: str, version: str) -> str:
    """32 lowercase hex characters: valid as an InferenceId (<= 64) and in a processing job name."""
    digest = hashlib.sha256(f"{bucket}\n{key}\n{version}".encode()).hexdigest()
    return digest[:JOB_ID_LENGTH]


def processing_job_name(job_id: str) -> str:
    """``reelsight-<job id>``: 42 characters, within SageMaker's 63 and its name pattern."""
    return f"{PROCESSING_JOB_PREFIX}{job_id}"


def job_id_from_processing_job_name(name: str) -> str | None:
    """Inverse of :func:`processing_job_name`; ``None`` for jobs reelsight did not start."""
    if not name.startswith(PROCESSING_JOB_PREFIX):
        return None
    job_id = name[len(PROCESSING_JOB_PREFIX) :]
    return job_id or None
