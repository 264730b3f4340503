"""Upload an invocation's output directory to S3 under ``<prefix><job_id>/artifacts/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reelsight.contract.names import FRAMES_FILE, JOBS_PREFIX, SUMMARY_FILE, artifacts_prefix, s3_uri

CONTENT_TYPES = {
    ".json": "application/json",
    ".jsonl": "application/x-ndjson",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".mp4": "video/mp4",
}
# Always listed in summary.artifacts when uploaded, whatever the pipeline named them.
ALWAYS_LISTED = {"frames_jsonl": FRAMES_FILE, "summary_json": SUMMARY_FILE}


class ArtifactStore:
    """S3 destination of the worker's artifacts; boto3 honours ``AWS_ENDPOINT_URL_S3``."""

    def __init__(self, bucket: str, prefix: str = JOBS_PREFIX, client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix
        if client is None:
            import boto3

            client = boto3.client("s3")
        self._client = client

    @property
    def client(self) -> Any:
        return self._client

    def key_prefix(self, job_id: str) -> str:
        return artifacts_prefix(job_id, root=self.prefix)

    def uri(self, job_id: str, relative: str) -> str:
        return s3_uri(self.bucket, self.key_prefix(job_id) + relative.lstrip("/"))

    def artifact_uris(self, job_id: str, out_dir: Path, local: dict[str, str]) -> dict[str, str]:
        """summary.artifacts with local relative paths turned into the S3 URIs they will have."""
        uris = {name: self.uri(job_id, rel) for name, rel in local.items()}
        for name, rel in ALWAYS_LISTED.items():
            if rel not in local.values() and name not in uris:
                uris[name] = self.uri(job_id, rel)
        return uris

    def upload_dir(self, job_id: str, out_dir: Path) -> list[str]:
        """Upload every file under ``out_dir``; returns the keys written."""
        keys = []
        for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
            key = self.key_prefix(job_id) + path.relative_to(out_dir).as_posix()
            extra = {"ContentType": CONTENT_TYPES.get(path.suffix, "application/octet-stream")}
            self._client.upload_file(str(path), self.bucket, key, ExtraArgs=extra)
            keys.append(key)
        return keys
