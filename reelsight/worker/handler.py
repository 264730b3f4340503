"""SageMaker's inference handler split: model_fn, input_fn, predict_fn, output_fn.

The HTTP server (``reelsight.worker.server``) calls these in order for every invocation;
they know nothing about HTTP beyond status codes carried by the errors they raise.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import tarfile
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from reelsight.contract.cost import receipt_from_environment
from reelsight.contract.names import (
    FRAMES_FILE,
    OCTET_STREAM,
    SUMMARY_FILE,
    suffix_for_content_type,
    uri_from_attribute,
)
from reelsight.contract.options import check_tracking, with_tracking_rate
from reelsight.contract.progress import VideoProgress
from reelsight.contract.summary import SHORT_WARNINGS
from reelsight.errors import ModelError, ParamError, ReelsightError, UnsupportedMediaError, VideoError
from reelsight.params import RunOptions, parse_key_values
from reelsight.results import Detections, FrameResult, RunSummary, write_summary
from reelsight.worker.artifacts import ArtifactStore

CHUNK_BYTES = 1024 * 1024
CHECKPOINT_SUFFIXES = (".pt", ".pth")
# Keys of the custom attributes that are not run options.
JOB_ID_KEY = "job_id"
VIDEO_URI_KEY = "video_uri"
# Run options fixed when the model is loaded: one model per endpoint.
MODEL_KEYS = ("model", "weights", "device", "precision")
_JOB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")
_GENERIC_TYPES = frozenset({"application/octet-stream", "binary/octet-stream", "application/x-binary"})


class RequestError(ReelsightError):
    """A request the worker cannot take, with the HTTP status to answer."""

    def __init__(self, message: str, http_status: int = 400) -> None:
        super().__init__(message)
        self.http_status = http_status


class PayloadTooLarge(RequestError):
    def __init__(self, message: str) -> None:
        super().__init__(message, 413)


class LengthRequired(RequestError):
    def __init__(self, message: str) -> None:
        super().__init__(message, 411)


class RequestTimeout(RequestError):
    def __init__(self, message: str) -> None:
        super().__init__(message, 408)


def error_body(exc: BaseException, message: str | None = None) -> dict[str, Any]:
    """The JSON body of every error answer; ``message`` replaces the exception's own text."""
    text = message if message is not None else str(exc)
    return {"error": {"type": type(exc).__name__, "message": text or type(exc).__name__}}


def http_status_of(exc: BaseException) -> int:
    return int(getattr(exc, "http_status", 500)) if isinstance(exc, ReelsightError) else 500


# --- model_fn --------------------------------------------------------------------------------------------


class SerializedPredictor:
    """Wraps a predictor so that model calls take turns while decoding runs in parallel.

    Each invocation decodes on its own pipeline thread; only ``predict`` holds the lock, so
    one request's decode overlaps another's inference. ``hold_file`` is a test hook: while
    that file exists, ``predict`` waits before taking the lock.
    """

    def __init__(self, inner: Any, hold_file: Path | None = None) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self._hold_file = hold_file

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def predict(self, frames: list[Any], *, with_masks: bool = True) -> list[FrameResult]:
        while self._hold_file is not None and self._hold_file.exists():
            time.sleep(0.05)
        with self._lock:
            return self._inner.predict(frames, with_masks=with_masks)


@dataclass
class LoadedModel:
    predictor: Any
    options: RunOptions  # the endpoint's defaults, with the loaded model's name and weights
    source: str  # where the weights came from, for logs


def model_fn(
    model_dir: Path,
    defaults: RunOptions,
    *,
    weights_from_env: bool,
    hold_file: Path | None = None,
    loader: Callable[..., Any] | None = None,
) -> LoadedModel:
    """Load the endpoint's one model.

    Order: weights named by ``REELSIGHT_WEIGHTS`` (``weights_from_env``); else a checkpoint in
    ``model_dir`` (``model.tar.gz``, or a state_dict ``.pt``/``.pth`` with an optional
    ``config.json`` naming the model); else the defaults (``pretrained``: weights baked into
    the image).
    """
    if loader is None:
        from reelsight.models import load_predictor

        loader = load_predictor
    with tempfile.TemporaryDirectory(prefix="reelsight-model-") as scratch:
        model_name, weights, source = _resolve_weights(
            Path(model_dir), defaults, weights_from_env, Path(scratch)
        )
        predictor = loader(
            model_name,
            weights=weights,
            device=defaults.device,
            precision=defaults.precision,
            score_threshold=defaults.score_threshold,
            seed=0,
        )
    options = replace(defaults, model=predictor.spec.name, weights=source).validate()
    return LoadedModel(predictor=SerializedPredictor(predictor, hold_file), options=options, source=source)


def _resolve_weights(
    model_dir: Path, defaults: RunOptions, weights_from_env: bool, scratch: Path
) -> tuple[str, str, str]:
    """-> (model name, weights argument for load_predictor, weights as reported).

    ``load_predictor`` reads ``model.tar.gz`` / ``.tar`` archives itself (``model.pth`` and a
    ``config.json`` that may name the model and its classes); an already extracted directory
    is handed over as an uncompressed tar of the same two files so that it reads the same way.
    """
    if weights_from_env or not model_dir.is_dir():
        return defaults.model, defaults.weights, defaults.weights
    archive = model_dir / "model.tar.gz"
    if archive.is_file():
        return _archive_model_name(archive) or defaults.model, str(archive), str(archive)
    checkpoints = sorted(p for p in model_dir.iterdir() if p.suffix in CHECKPOINT_SUFFIXES and p.is_file())
    config = model_dir / "config.json"
    if not checkpoints:
        if config.exists():
            raise ModelError(f"{model_dir} has a config.json but no model.pth next to it")
        return defaults.model, defaults.weights, defaults.weights
    if len(checkpoints) > 1:
        names = ", ".join(p.name for p in checkpoints)
        raise ModelError(f"{model_dir}: expected one state_dict (model.pth), found {names}")
    if not config.is_file():
        return defaults.model, str(checkpoints[0]), str(checkpoints[0])
    bundle = scratch / "model.tar"
    with tarfile.open(bundle, "w") as tar:
        tar.add(checkpoints[0], arcname="model.pth")
        tar.add(config, arcname="config.json")
    return defaults.model, str(bundle), str(model_dir)


def _archive_model_name(archive: Path) -> str | None:
    """The model named by the archive's config.json, so the model is built for it from the start."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            member = next((m for m in tar if m.isfile() and m.name.lstrip("./") == "config.json"), None)
            handle = tar.extractfile(member) if member is not None else None
            config = json.loads(handle.read()) if handle is not None else {}
    except (tarfile.TarError, OSError, ValueError):
        return None  # load_predictor reports what is wrong with the archive
    model = config.get("model") if isinstance(config, dict) else None
    return str(model) if model else None


# --- request options -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestOptions:
    options: RunOptions
    job_id: str
    video_uri: str | None


def request_options(
    model: LoadedModel, custom_attributes: str | None, inference_id: str | None = None
) -> RequestOptions:
    """Endpoint defaults overridden by ``X-Amzn-SageMaker-Custom-Attributes`` (``fps=2,mode=keyframes``)."""
    mapping = parse_key_values(custom_attributes or "")
    job_id = mapping.pop(JOB_ID_KEY, None) or inference_id or uuid.uuid4().hex
    if not _JOB_ID_RE.match(job_id):
        raise ParamError(
            f"job_id must be 1-128 characters of letters, digits, '.', '_' or '-', got {job_id!r}"
        )
    video_uri = uri_from_attribute(mapping.pop(VIDEO_URI_KEY, "")) or None
    mapping = with_tracking_rate(mapping)
    options = model.options.with_overrides(mapping)
    _check_same_model(model, options, mapping)
    check_tracking(options)  # run_video checks again against the loaded model itself
    options = replace(options, model=model.options.model)  # an alias names the loaded model
    return RequestOptions(options=options, job_id=job_id, video_uri=video_uri)


def _check_same_model(model: LoadedModel, options: RunOptions, mapping: Mapping[str, str]) -> None:
    loaded = model.options
    requested_model = options.model
    if requested_model != loaded.model:
        try:
            from reelsight.models.registry import get_spec

            requested_model = get_spec(requested_model).name
        except ReelsightError:
            pass
    if requested_model != loaded.model:
        raise ParamError(
            f"this endpoint serves model {loaded.model!r}; a request cannot ask for model {options.model!r} "
            "(one model per endpoint: deploy another endpoint for it)"
        )
    if options.score_threshold < loaded.score_threshold:
        raise ParamError(
            f"score_threshold can only be raised per request: the model drops detections below "
            f"{loaded.score_threshold} when it loads; asked for {options.score_threshold}"
        )
    for key in MODEL_KEYS[1:]:
        if key in {k.strip().lower().replace("-", "_") for k in mapping} and getattr(options, key) != getattr(
            loaded, key
        ):
            raise ParamError(
                f"{key} is fixed when the endpoint loads its model ({getattr(loaded, key)!r}); "
                f"a request cannot change it to {getattr(options, key)!r}"
            )


# --- input_fn --------------------------------------------------------------------------------------------


def check_content_type(content_type: str | None) -> str:
    """-> file suffix for the temp file; UnsupportedMediaError for a type that is not a video."""
    media = (content_type or OCTET_STREAM).split(";")[0].strip().lower()
    suffix = suffix_for_content_type(media)
    if suffix:
        return suffix
    if media.startswith("video/") or media in _GENERIC_TYPES:
        return ".bin"
    raise UnsupportedMediaError(
        f"content type {media!r} is not accepted; send the video bytes as video/* or application/octet-stream"
    )


async def input_fn(
    body: AsyncIterator[bytes],
    *,
    content_length: int | None,
    chunked: bool,
    content_type: str | None,
    work_dir: Path,
    max_bytes: int,
) -> Path:
    """Stream the request body (its decoded chunks, as the HTTP server hands them over) to a file.

    Never holds the body in memory; stops at ``max_bytes`` whatever the framing, so a chunked
    body is bounded in total. The file is written from a thread, off the server's event loop.
    """
    suffix = check_content_type(content_type)
    if content_length is None and not chunked:
        raise LengthRequired("the request needs a Content-Length header or chunked transfer encoding")
    if content_length is not None and content_length > max_bytes:
        raise PayloadTooLarge(f"the body is {content_length} bytes; this worker accepts at most {max_bytes}")
    path = work_dir / f"input{suffix}"
    with path.open("wb") as out:
        written = await _copy(body, out, max_bytes)
    if content_length is not None and written != content_length:
        raise RequestError(f"the body ended after {written} of {content_length} bytes")
    if written == 0:
        raise VideoError("the request body is empty; send the video bytes")
    return path


async def _copy(body: AsyncIterator[bytes], out: IO[bytes], max_bytes: int) -> int:
    written = 0
    pending: list[bytes] = []
    pending_bytes = 0
    async for chunk in body:
        written += len(chunk)
        if written > max_bytes:
            raise PayloadTooLarge(f"the body exceeds {max_bytes} bytes, the most this worker accepts")
        pending.append(chunk)
        pending_bytes += len(chunk)
        if pending_bytes >= CHUNK_BYTES:
            await asyncio.to_thread(out.write, b"".join(pending))
            pending, pending_bytes = [], 0
    if pending:
        await asyncio.to_thread(out.write, b"".join(pending))
    return written


# --- predict_fn and output_fn ----------------------------------------------------------------------------


class ThresholdedPredictor:
    """A request's view of the shared predictor that drops detections below its own threshold."""

    def __init__(self, inner: Any, threshold: float) -> None:
        self._inner = inner
        self._threshold = threshold

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def predict(self, frames: list[Any], *, with_masks: bool = True) -> list[FrameResult]:
        results = self._inner.predict(frames, with_masks=with_masks)
        for result in results:
            det = result.detections
            if det is not None and len(det):
                keep = det.scores >= self._threshold
                result.detections = Detections(
                    xyxy=det.xyxy[keep],
                    labels=det.labels[keep],
                    scores=det.scores[keep],
                    class_names=[n for n, k in zip(det.class_names, keep, strict=True) if k],
                    masks=[m for m, k in zip(det.masks, keep, strict=True) if k]
                    if det.masks is not None
                    else None,
                )
        return results


def predict_fn(
    video: Path,
    model: LoadedModel,
    request: RequestOptions,
    out_dir: Path,
    progress: Callable[[int, int | None], None] | None = None,
    snapshot: Callable[[VideoProgress], None] | None = None,
) -> RunSummary:
    from reelsight.pipeline import run_video

    predictor = model.predictor
    if request.options.score_threshold > model.options.score_threshold:
        predictor = ThresholdedPredictor(predictor, request.options.score_threshold)
    return run_video(
        video,
        options=request.options,
        out_dir=out_dir,
        predictor=predictor,
        progress=progress,
        video_uri=request.video_uri or f"invocation:{request.job_id}",  # never the temp file's path
        snapshot=snapshot,
    )


def output_fn(
    summary: RunSummary,
    out_dir: Path,
    *,
    job_id: str,
    store: ArtifactStore | None,
    max_response_bytes: int,
) -> bytes:
    """The answer body: the run summary (summary.json), with its artifacts as S3 URIs.

    The frames are not in the body: they are in frames.jsonl, uploaded with the other artifacts
    (``summary.artifacts["frames"]``). Nothing here reads frames.jsonl, so the memory used does not
    grow with the video. Without a store nothing is kept and a warning says so. The body stays under
    ``max_response_bytes`` by keeping only the first warnings when there are very many.
    """
    summary.warnings = list(summary.warnings)
    if summary.receipt is None:  # what the run cost, in summary.json and the body
        summary.receipt = receipt_from_environment(summary, os.environ)
    if store is not None:
        summary.artifacts = store.artifact_uris(job_id, out_dir, dict(summary.artifacts))
        write_summary(out_dir / SUMMARY_FILE, summary)
        store.upload_dir(job_id, out_dir)
    elif summary.artifacts:
        summary.warnings.append(
            f"the artifacts ({', '.join(sorted(summary.artifacts))}), {FRAMES_FILE} among them, were not "
            "kept: set REELSIGHT_ARTIFACT_BUCKET to upload them to S3"
        )
        summary.artifacts = {}
    body = _dump(summary.to_json())
    if len(body) > max_response_bytes and len(summary.warnings) > SHORT_WARNINGS:
        left_out = len(summary.warnings) - SHORT_WARNINGS
        summary.warnings = [*summary.warnings[:SHORT_WARNINGS], f"{left_out} more warnings left out"]
        body = _dump(summary.to_json())
    return body


def _dump(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode("utf-8")
