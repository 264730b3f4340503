"""What the local Processing service moves between S3 and a host's folder, as SageMaker does.

Inputs: an ``S3Prefix`` input is every object whose key starts with the prefix, each at
``LocalPath/<key relative to the prefix's folder>`` (``s3://b/data/`` gives ``data/a/x.mp4`` as
``a/x.mp4``; ``s3://b/incoming/cam1.mp4`` gives ``cam1.mp4``). A ``ManifestFile`` input is exactly
the keys its manifest lists (``[{"prefix": "s3://b/p/"}, "rel/x.mp4", ...]``), each at
``LocalPath/<rel>``; a listed object that does not exist fails the job before any host runs.
``FullyReplicated`` gives every host all objects; ``ShardedByS3Key`` gives each object to exactly
one host (SageMaker leaves the assignment unspecified: here the sorted keys, round robin).

Outputs: every file under a host's ``LocalPath`` goes to ``S3Uri/<path relative to LocalPath>``.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelsight.contract.names import s3_uri, split_s3_uri
from reelsight.contract.processing import container_path


class InputError(Exception):
    """An input SageMaker would refuse: the job fails with ``ClientError: <message>``."""


@dataclass(frozen=True)
class InputObject:
    bucket: str
    key: str
    relative: str  # the file's path under the input's LocalPath


def _s3_location(uri: str) -> tuple[str, str]:
    try:
        return split_s3_uri(uri)
    except ValueError as exc:
        raise InputError(f"S3Uri {uri!r} is not an s3:// URI: {exc}") from None


def prefix_objects(s3: Any, uri: str) -> list[InputObject]:
    """Every object under an ``S3Prefix`` input, relative to the prefix's folder."""
    bucket, prefix = _s3_location(uri)
    folder = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
    objects = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents") or []:
            key = str(item["Key"])
            if not key.endswith("/"):  # a folder marker is no file
                objects.append(InputObject(bucket, key, key[len(folder) :]))
    if not objects:
        raise InputError(f"no objects found under the S3 prefix {uri}")
    return objects


def manifest_objects(s3: Any, uri: str) -> list[InputObject]:
    """The objects a ``ManifestFile`` input lists; InputError naming any that do not exist."""
    bucket, key = _s3_location(uri)
    try:
        document = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        raise InputError(f"the manifest file {uri} does not exist") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"the manifest file {uri} is not JSON: {exc}") from None
    base, relatives = _parse_manifest(document, uri)
    base_bucket, base_prefix = _s3_location(base)
    objects = [InputObject(base_bucket, base_prefix + rel, rel) for rel in relatives]
    missing = [s3_uri(o.bucket, o.key) for o in objects if not _exists(s3, o.bucket, o.key)]
    if missing:
        raise InputError(f"the manifest {uri} lists objects that do not exist: {', '.join(missing)}")
    return objects


def _parse_manifest(document: Any, uri: str) -> tuple[str, list[str]]:
    if (
        not isinstance(document, list)
        or not document
        or not isinstance(document[0], dict)
        or not isinstance(document[0].get("prefix"), str)
        or not all(isinstance(item, str) and item for item in document[1:])
    ):
        raise InputError(
            f"the manifest file {uri} must be a JSON list: a {{'prefix': 's3://...'}} object, then keys"
        )
    return str(document[0]["prefix"]), [str(item) for item in document[1:]]


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError:
        return False
    return True


def input_objects(s3: Any, s3_input: Mapping[str, Any]) -> list[InputObject]:
    uri = str(s3_input.get("S3Uri") or "")
    kind = s3_input.get("S3DataType") or "S3Prefix"
    if kind == "ManifestFile":
        return manifest_objects(s3, uri)
    if kind == "S3Prefix":
        return prefix_objects(s3, uri)
    raise InputError(f"S3DataType {kind!r} is not ManifestFile or S3Prefix")


def host_share(
    objects: list[InputObject], distribution: str | None, index: int, count: int
) -> list[InputObject]:
    """The objects host ``index`` (0-based, of ``count``) receives."""
    if distribution != "ShardedByS3Key" or count <= 1:
        return list(objects)
    ordered = sorted(objects, key=lambda o: (o.bucket, o.key))
    return ordered[index::count]


def download(s3: Any, objects: list[InputObject], local_dir: Path) -> None:
    local_dir.mkdir(parents=True, exist_ok=True)
    for obj in objects:
        target = local_dir / posixpath.normpath(obj.relative).lstrip("/")
        if not target.resolve().is_relative_to(local_dir.resolve()):
            raise InputError(f"{s3_uri(obj.bucket, obj.key)} would land outside {local_dir}")
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(obj.bucket, obj.key, str(target))


def host_path(root: Path, container: str) -> Path:
    """A container path (/opt/ml/...) in a host's folder."""
    return Path(container_path(container, {"REELSIGHT_OPT_ML_ROOT": str(root)}))


FileState = tuple[float, int]


class OutputUploader:
    """Uploads one ProcessingOutput's files, each again only when it changed since its last upload."""

    def __init__(self, s3: Any, local_dir: Path, uri: str, kms_key_id: str | None = None) -> None:
        self.s3 = s3
        self.local_dir = local_dir
        self.bucket, prefix = split_s3_uri(uri)
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.kms_key_id = kms_key_id
        self.uploaded: dict[Path, FileState] = {}

    def sync(self) -> list[str]:
        """Upload what is new or changed; the keys written."""
        if not self.local_dir.is_dir():
            return []
        written = []
        for path in sorted(p for p in self.local_dir.rglob("*") if p.is_file()):
            stat = path.stat()
            state = (stat.st_mtime, stat.st_size)
            if self.uploaded.get(path) == state:
                continue
            key = self.prefix + path.relative_to(self.local_dir).as_posix()
            self.s3.upload_file(str(path), self.bucket, key, ExtraArgs=self._extra_args())
            self.uploaded[path] = state
            written.append(key)
        return written

    def _extra_args(self) -> dict[str, str]:
        if not self.kms_key_id:
            return {}
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id}
