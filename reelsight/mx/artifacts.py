"""Model artifacts on disk: ``model.tar.gz`` archives, directories and single parameter files."""

from __future__ import annotations

import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from reelsight.contract.names import S3_SCHEME, s3_location_or_none
from reelsight.errors import ModelError


@dataclass(frozen=True)
class ArtifactFiles:
    """What an artifact holds; every path is absolute and exists."""

    root: Path
    params: Path | None
    symbol: Path | None
    hyperparams: Path | None
    labels: Path | None


LABEL_FILE_NAMES = ("labels.txt", "classes.txt", "class_names.txt")


def unpack(path: str | Path, workdir: str | Path | None = None) -> Path:
    """A directory with the artifact's files: ``path`` itself, or where its archive was extracted."""
    source = Path(path)
    if not source.exists():
        raise ModelError(f"model artifact not found: {source}")
    if source.is_dir():
        return source
    if not tarfile.is_tarfile(source):
        return source.parent
    target = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="reelsight-model-"))
    try:
        with tarfile.open(source, "r:*") as archive:
            archive.extractall(target, filter="data")  # refuses absolute paths, links out, devices
    except (tarfile.TarError, OSError) as exc:
        raise ModelError(f"cannot extract model archive {source}: {exc}") from None
    return target


def find_files(path: str | Path, workdir: str | Path | None = None) -> ArtifactFiles:
    """Locate params/symbol/hyperparams/labels in an archive, a directory or beside a file."""
    source = Path(path)
    root = unpack(source, workdir)
    if source.is_file() and not tarfile.is_tarfile(source):
        params: Path | None = source if source.suffix == ".params" else None
    else:
        params = _latest(root.rglob("*.params"))
    symbol = _single(root.rglob("*-symbol.json")) or _single(root.rglob("*symbol*.json"))
    hyper = _single(root.rglob("hyperparams.json"))
    labels = next((p for name in LABEL_FILE_NAMES for p in sorted(root.rglob(name))), None)
    return ArtifactFiles(root=root, params=params, symbol=symbol, hyperparams=hyper, labels=labels)


@contextmanager
def artifact_files(path: str | Path) -> Iterator[ArtifactFiles]:
    """``find_files``, with an archive extracted into a temporary directory removed on exit."""
    with tempfile.TemporaryDirectory(prefix="reelsight-model-") as scratch:
        yield find_files(path, scratch)


def _single(paths: object) -> Path | None:
    found = sorted(paths)  # type: ignore[call-overload]
    return found[0] if found else None


def _latest(paths: object) -> Path | None:
    """The last checkpoint: ``prefix-0003.params`` wins over ``prefix-0000.params``."""
    found = sorted(paths)  # type: ignore[call-overload]
    return found[-1] if found else None


def read_labels(path: str | Path) -> list[str]:
    """One class name per line; blank lines and ``#`` comments are skipped."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    names = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not names:
        raise ModelError(f"labels file {path} lists no class names")
    return names


@contextmanager
def local_weights(weights: str) -> Iterator[str]:
    """``resolve_weights``, with a download removed on exit."""
    with tempfile.TemporaryDirectory(prefix="reelsight-weights-") as scratch:
        yield resolve_weights(weights, scratch)


def resolve_weights(weights: str, workdir: str | Path | None = None) -> str:
    """``weights`` itself, or for an ``s3://bucket/key`` the local path it was downloaded to."""
    if not weights.startswith(S3_SCHEME):
        return weights
    location = s3_location_or_none(weights)
    if location is None or location[1].endswith("/"):
        raise ModelError(f"weights uri must name an object (s3://bucket/key), got {weights!r}")
    bucket, key = location
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    target = Path(workdir or tempfile.mkdtemp(prefix="reelsight-weights-")) / Path(key).name
    try:
        boto3.client("s3").download_file(bucket, key, str(target))
    except (BotoCoreError, ClientError) as exc:
        raise ModelError(f"cannot download weights {weights}: {exc}") from None
    return str(target)
