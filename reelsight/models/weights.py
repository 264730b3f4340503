"""Building torchvision models and filling them with weights: pretrained, random or a checkpoint."""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import tarfile
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import torch

from reelsight import envvars
from reelsight.contract.settings import env_seconds
from reelsight.errors import ModelError
from reelsight.models.registry import ModelSpec, get_spec

log = logging.getLogger(__name__)

# Bounds on a pretrained download (see envvars): the wait for the network, and the whole file.
DEFAULT_DOWNLOAD_TIMEOUT = 20.0
DEFAULT_DOWNLOAD_MAX_SECONDS = 900.0
_CHUNK_BYTES = 1 << 16
# torch hub's naming convention: "name-<first hex digits of the file's sha256>.ext".
_HASH_PREFIX = re.compile(r"-([a-f0-9]+)\.")

# Builder keyword arguments that set the score floor before NMS, per model family.
_SCORE_KWARG = {
    "maskrcnn_resnet50_fpn": "box_score_thresh",
    "maskrcnn_resnet50_fpn_v2": "box_score_thresh",
    "fasterrcnn_resnet50_fpn_v2": "box_score_thresh",
    "retinanet_resnet50_fpn_v2": "score_thresh",
    "ssdlite320_mobilenet_v3_large": "score_thresh",
}
# Builders whose transform accepts min_size / max_size (ssdlite always works at 320x320).
_RESIZABLE = {
    "maskrcnn_resnet50_fpn",
    "maskrcnn_resnet50_fpn_v2",
    "fasterrcnn_resnet50_fpn_v2",
    "retinanet_resnet50_fpn_v2",
}
# The layer whose first dimension is the number of classes, where it is easy to read.
_CLASS_LAYER = {
    "maskrcnn_resnet50_fpn": "roi_heads.box_predictor.cls_score.weight",
    "maskrcnn_resnet50_fpn_v2": "roi_heads.box_predictor.cls_score.weight",
    "fasterrcnn_resnet50_fpn_v2": "roi_heads.box_predictor.cls_score.weight",
    "deeplabv3_resnet50": "classifier.4.weight",
    "deeplabv3_resnet101": "classifier.4.weight",
    "deeplabv3_mobilenet_v3_large": "classifier.4.weight",
}


def builder_kwargs(spec: ModelSpec, score_threshold: float, model_kwargs: Mapping[str, Any] | None) -> dict:
    """Keyword arguments for the torchvision builder: score floor plus allowed overrides."""
    kwargs: dict[str, Any] = {}
    score_key = _SCORE_KWARG.get(spec.builder)
    if score_key:
        # Dropping candidates below the threshold before NMS cannot change what survives
        # above it (NMS only suppresses lower scores), and it saves work.
        kwargs[score_key] = float(score_threshold)
    for key, value in (model_kwargs or {}).items():
        if value is None:
            continue
        if key in ("min_size", "max_size"):
            if spec.builder not in _RESIZABLE:
                log.info("%s ignores %s: it always runs at its fixed input size", spec.name, key)
                continue
            kwargs[key] = int(value)
        else:
            kwargs[key] = value
    return kwargs


def _build(spec: ModelSpec, weights: Any, num_classes: int | None, kwargs: dict) -> torch.nn.Module:
    import torchvision

    builder = torchvision.models.get_model_builder(spec.builder)
    extra: dict[str, Any] = {"weights": weights, **kwargs}
    if weights is None:
        extra["weights_backbone"] = None
        if num_classes is not None:
            extra["num_classes"] = num_classes
    return builder(**extra)


def build_random(
    spec: ModelSpec, *, seed: int, kwargs: dict, num_classes: int | None = None
) -> torch.nn.Module:
    torch.manual_seed(seed)
    return _build(spec, None, num_classes, kwargs)


class DownloadError(ModelError):
    """A pretrained checkpoint could not be downloaded: unreachable, too slow, truncated or a bad hash."""


def download_limits() -> tuple[float, float]:
    """(seconds to wait on the network, seconds for the whole download), from the environment."""
    return (
        env_seconds(os.environ, envvars.WEIGHTS_DOWNLOAD_TIMEOUT, default=DEFAULT_DOWNLOAD_TIMEOUT),
        env_seconds(os.environ, envvars.WEIGHTS_DOWNLOAD_MAX_SECONDS, default=DEFAULT_DOWNLOAD_MAX_SECONDS),
    )


def pretrained_weights(spec: ModelSpec) -> Any:
    """The torchvision ``DEFAULT`` weights enum of ``spec`` (its ``url`` names the checkpoint)."""
    import torchvision

    if spec.framework != "torchvision" or not spec.builder:
        raise ModelError(f"{spec.name} is a {spec.framework} model: torchvision has no weights for it")
    return torchvision.models.get_model_weights(spec.builder).DEFAULT


def checkpoint_path(url: str) -> Path:
    """Where torch hub, and so torchvision, keeps the file of ``url`` (under TORCH_HOME)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urllib.parse.urlparse(url).path).name


def fetch_pretrained(spec: ModelSpec, *, progress: bool = True) -> Path:
    """The model's pretrained checkpoint in the torch hub cache, downloaded there first when missing.

    A cached file is used as it is, without any network access. The download is bounded by
    ``download_limits()``; when it fails this raises ``DownloadError`` and leaves nothing in the cache.
    """
    url = pretrained_weights(spec).url
    path = checkpoint_path(url)
    if path.is_file():
        return path
    timeout, max_seconds = download_limits()
    log.info("downloading the pretrained weights of %s from %s into %s", spec.name, url, path.parent)
    try:
        download(url, path, timeout=timeout, max_seconds=max_seconds, progress=progress)
    except DownloadError as exc:
        raise DownloadError(_unavailable(spec, url, exc)) from exc
    return path


def download(url: str, dest: Path, *, timeout: float, max_seconds: float, progress: bool = True) -> None:
    """Stream ``url`` to ``dest`` through a temporary file, checking torch hub's hash prefix of its name.

    ``timeout`` bounds every wait on the network (connecting, through a proxy too, and each read),
    ``max_seconds`` the whole download. The progress bar shows on a terminal only. Raises
    ``DownloadError``; ``dest`` then does not exist (an existing one is never replaced by a bad file).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".partial")
    partial = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            digest = _stream(url, out, timeout=timeout, max_seconds=max_seconds, progress=progress)
        match = _HASH_PREFIX.search(dest.name)
        if match and not digest.startswith(match.group(1)):
            raise DownloadError(f"bad checksum: sha256 {digest} does not start with {match.group(1)}")
        os.replace(partial, dest)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        reason = _reason(exc)
        if isinstance(reason, TimeoutError):
            raise DownloadError(f"no data for {timeout:g}s ({envvars.WEIGHTS_DOWNLOAD_TIMEOUT})") from exc
        raise DownloadError(f"{reason.__class__.__name__}: {reason}") from exc
    finally:
        partial.unlink(missing_ok=True)


def _stream(url: str, out: IO[bytes], *, timeout: float, max_seconds: float, progress: bool) -> str:
    """Copy the response body of ``url`` to ``out``; returns its sha256 hex digest."""
    from tqdm import tqdm

    deadline = time.monotonic() + max_seconds
    # A fresh opener reads the *_PROXY variables now (urlopen's shared one keeps its first call's).
    opener = urllib.request.build_opener()
    request = urllib.request.Request(url, headers={"User-Agent": "reelsight"})
    sha, received = hashlib.sha256(), 0
    with opener.open(request, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        label = Path(urllib.parse.urlparse(url).path).name
        bar = tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=label,
            disable=None if progress else True,
        )
        with bar:
            while chunk := response.read1(_CHUNK_BYTES):  # read1: one read, so each waits <= timeout
                if time.monotonic() > deadline:
                    raise DownloadError(
                        f"not done after {max_seconds:g}s ({envvars.WEIGHTS_DOWNLOAD_MAX_SECONDS})"
                    )
                out.write(chunk)
                sha.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if total is not None and received != total:
        raise DownloadError(f"truncated: got {received} of {total} bytes")
    return sha.hexdigest()


def _reason(exc: BaseException) -> BaseException:
    """The socket error inside a URLError (a connect timeout, a refused connection), else ``exc``."""
    inner = getattr(exc, "reason", None)
    return _reason(inner) if isinstance(inner, BaseException) else exc


def _unavailable(spec: ModelSpec, url: str, reason: object) -> str:
    cache = checkpoint_path(url)
    return (
        f"cannot load pretrained weights for {spec.name}: {reason}. Downloading {url} failed (offline?). "
        f"Put that file at {cache}, pass a checkpoint with --weights PATH, use --weights random, "
        "or add --allow-random-fallback."
    )


def build_pretrained(spec: ModelSpec, *, kwargs: dict) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The torchvision DEFAULT weights, from torch hub's cache (TORCH_HOME), downloaded there when missing."""
    enum = pretrained_weights(spec)
    fetch_pretrained(spec)
    try:
        module = _build(spec, enum, None, kwargs)
    except (OSError, RuntimeError, ValueError) as exc:  # a cached file that does not load
        raise ModelError(_unavailable(spec, enum.url, f"{exc.__class__.__name__}: {exc}")) from exc
    info = {"weights": "pretrained", "weights_source": f"torchvision:{enum}", "random_weights": False}
    return module, info


def warn_random_fallback(name: str, reason: BaseException) -> None:
    """The loud log lines of every fall back to random weights."""
    log.warning("%s", reason)
    log.warning("!!! FALLING BACK TO RANDOM WEIGHTS for %s: results are meaningless noise !!!", name)


def build_random_fallback(
    spec: ModelSpec, *, seed: int, kwargs: dict, reason: BaseException
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Random weights in place of unavailable pretrained ones, said loudly and flagged in the summary."""
    warn_random_fallback(spec.name, reason)
    module = build_random(spec, seed=seed, kwargs=kwargs)
    info = {
        "weights": "pretrained",
        "weights_source": f"random(seed={seed}) fallback: pretrained unavailable",
        "random_weights": True,
    }
    return module, info


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises a wide range of errors on bad files
        raise ModelError(f"cannot read checkpoint {path}: {exc}") from exc
    if isinstance(data, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            if isinstance(data.get(key), dict):
                data = data[key]
                break
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ModelError(f"{path} is not a state_dict (a mapping of parameter names to tensors)")
    # Checkpoints saved from DataParallel prefix every key with "module.".
    if data and all(k.startswith("module.") for k in data):
        data = {k[len("module.") :]: v for k, v in data.items()}
    return data


def _extract_tarball(path: Path, into: Path) -> tuple[Path, dict[str, Any]]:
    """A SageMaker model.tar.gz: model.pth (state_dict) and config.json, at its root."""
    try:
        with tarfile.open(path, "r:*") as archive:
            archive.extractall(into, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise ModelError(f"cannot open model archive {path}: {exc}") from exc
    weights = next((p for p in (into / "model.pth", into / "model.pt") if p.is_file()), None)
    if weights is None:
        raise ModelError(f"{path} has no model.pth at its root")
    config: dict[str, Any] = {}
    config_path = into / "config.json"
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text())
        except ValueError as exc:
            raise ModelError(f"config.json in {path} is not JSON: {exc}") from exc
        if not isinstance(config, dict):
            raise ModelError(f"config.json in {path} must be a JSON object")
    return weights, config


def _infer_num_classes(spec: ModelSpec, state: Mapping[str, torch.Tensor]) -> int | None:
    layer = _CLASS_LAYER.get(spec.builder)
    if layer and layer in state:
        return int(state[layer].shape[0])
    return None


def build_from_checkpoint(
    spec: ModelSpec, path: Path, *, kwargs: dict
) -> tuple[torch.nn.Module, ModelSpec, tuple[str, ...], dict[str, Any]]:
    """Load a .pt/.pth state_dict or a model.tar.gz; the archive's config.json may name the model."""
    if not path.is_file():
        raise ModelError(f"weights file not found: {path}")
    config: dict[str, Any] = {}
    if path.name.endswith((".tar.gz", ".tgz", ".tar")):
        with tempfile.TemporaryDirectory(prefix="reelsight-model-") as tmp:
            weights_path, config = _extract_tarball(path, Path(tmp))
            state = _read_state_dict(weights_path)
    else:
        state = _read_state_dict(path)
    if config.get("model"):
        configured = get_spec(str(config["model"]))
        if configured.name != spec.name:
            log.warning(
                "checkpoint %s is for model %s; using it instead of %s", path, configured.name, spec.name
            )
            spec = configured
        if configured.framework != "torchvision":
            raise ModelError(f"checkpoint {path} is for {configured.name}, a {configured.framework} model")
    classes = tuple(str(c) for c in config.get("classes") or ())
    num_classes = int(
        config.get("num_classes") or _infer_num_classes(spec, state) or len(classes) or spec.num_classes
    )
    if not classes:
        classes = (
            spec.classes
            if num_classes == spec.num_classes
            else tuple(f"class_{i}" for i in range(num_classes))
        )
    if len(classes) != num_classes:
        raise ModelError(f"{path}: config lists {len(classes)} classes but the model has {num_classes}")
    module = _build(spec, None, num_classes, dict(kwargs))
    expected = set(module.state_dict())
    if not any(k.startswith("aux_classifier.") for k in expected):
        state = {k: v for k, v in state.items() if not k.startswith("aux_classifier.")}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(
            f"checkpoint {path} does not fit {spec.name} with {num_classes} classes: {exc}"
        ) from exc
    info = {"weights": str(path), "weights_source": "checkpoint", "random_weights": False}
    return module, spec, classes, info
