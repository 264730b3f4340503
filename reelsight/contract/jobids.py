"""Deterministic job ids: the same uploaded object always maps to the same job.

The dispatcher derives them when it sees an upload; the client derives the same ids to find
the job of what it uploaded.
"""

from __future__ import annotations

import hashlib

JOB_ID_LENGTH = 32


def object_version(version_id: str | None, etag: str | None, sequencer: str | None = None) -> str:
    """What tells two writes of one key apart, as S3 event notifications state it: the version id,
    else the event's sequencer (different for every write, the same when an event is delivered
    twice). The ETag comes last, for a record that carries neither: it is the same for the same
    bytes, so it cannot tell a second upload from a redelivery."""
    if version_id and version_id != "null":
        return f"v:{version_id}"
    if sequencer:
        return f"s:{sequencer}"
    if etag:
        return "e:" + etag.strip().strip('"')
    return "s:"


def job_id_for(bucket: str, key: str, version: str) -> str:
    """32 lowercase hex characters: valid as an InferenceId (<= 64) and in a processing job name."""
    digest = hashlib.sha256(f"{bucket}\n{key}\n{version}".encode()).hexdigest()
    return digest[:JOB_ID_LENGTH]
