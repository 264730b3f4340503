"""A batch or split job's parts in its results bucket: results, completion markers, error records.

Every write here goes straight to S3 from the host that ran the part, so a part is complete in S3
(results first, then its marker) whether or not the job's EndOfJob upload ever happens.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from reelsight.contract.batch import (
    MARKER_FILE,
    PartError,
    PartMarker,
    error_key,
    marker_key,
)
from reelsight.contract.names import job_prefix

log = logging.getLogger("reelsight.worker.parts")

JSON_TYPE = "application/json"
CONTENT_TYPES = {
    ".json": JSON_TYPE,
    ".jsonl": "application/x-ndjson",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".mp4": "video/mp4",
}


class PartStore:
    """One job's parts in ``bucket`` (keys from :mod:`reelsight.contract.batch`)."""

    def __init__(self, s3: Any, bucket: str, job_id: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.job_id = job_id

    def marker(self, part_id: str) -> PartMarker | None:
        """The part's completion marker; None when it has none (a marker that does not read is none)."""
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=marker_key(self.job_id, part_id))["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        try:
            return PartMarker.from_json(body)
        except (ValueError, TypeError) as exc:
            log.warning("%s: unreadable marker, the part runs again (%s)", part_id, exc)
            return None

    def markers(self, folder: str = "") -> dict[str, PartMarker]:
        """Every readable marker of the job (under ``folder`` of its prefix), by part id."""
        found: dict[str, PartMarker] = {}
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=job_prefix(self.job_id) + folder
        )
        for page in pages:
            for item in page.get("Contents") or []:
                if item["Key"].endswith("/" + MARKER_FILE):
                    body = self.s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
                    try:
                        marker = PartMarker.from_json(body)
                    except (ValueError, TypeError):
                        continue
                    found[marker.part_id] = marker
        return found

    def upload_tree(self, folder: Path, prefix: str, *, only: Iterable[Path] | None = None) -> int:
        """Upload the files under ``folder`` (or ``only`` those) to ``prefix``; how many."""
        files = sorted(only) if only is not None else sorted(p for p in folder.rglob("*") if p.is_file())
        for path in files:
            rel = path.relative_to(folder).as_posix()
            extra = {"ContentType": CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")}
            self.s3.upload_file(str(path), self.bucket, prefix + rel, ExtraArgs=extra)
        return len(files)

    def write_marker(self, marker: PartMarker) -> None:
        self._put(marker_key(self.job_id, marker.part_id), marker.to_json())

    def write_error(self, error: PartError) -> None:
        self._put(error_key(self.job_id, error.part_id), error.to_json())

    def clear_error(self, part_id: str) -> None:
        """Remove an earlier attempt's error record of a part that is now done."""
        self.s3.delete_object(Bucket=self.bucket, Key=error_key(self.job_id, part_id))

    def read(self, key: str) -> bytes:
        body: bytes = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return body

    def concatenate(self, sources: list[str], key: str, content_type: str) -> None:
        """``key`` = the objects ``sources`` joined in order, streamed through a temporary file (memory
        stays flat however long the video; upload_file goes multipart for a large one)."""
        with tempfile.NamedTemporaryFile(prefix="merge-", suffix=".part") as joined:
            self.join(sources, Path(joined.name))
            self.upload(Path(joined.name), key, content_type)

    def join(self, sources: list[str], path: Path) -> None:
        """The objects ``sources`` joined in order into the local file ``path``, in 1 MiB chunks."""
        with path.open("wb") as joined:
            for source in sources:
                body = self.s3.get_object(Bucket=self.bucket, Key=source)["Body"]
                for chunk in body.iter_chunks(1 << 20):
                    joined.write(chunk)

    def upload(self, path: Path, key: str, content_type: str) -> None:
        self.s3.upload_file(str(path), self.bucket, key, ExtraArgs={"ContentType": content_type})

    def exists(self, key: str) -> bool:
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=key, MaxKeys=1)
        return any(item["Key"] == key for item in listed.get("Contents") or [])

    def _put(self, key: str, text: str) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=text.encode("utf-8"), ContentType=JSON_TYPE)
