"""Deterministic job ids; they live in ``reelsight.contract.jobids``, shared with the client."""

from __future__ import annotations

from reelsight.contract.jobids import JOB_ID_LENGTH, job_id_for, object_version

__all__ = ["JOB_ID_LENGTH", "job_id_for", "object_version"]
