"""Decisions about one uploaded object: is it ours, which options, which route."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lambdas.common.settings import Settings
from reelsight.contract.batch import MAX_INSTANCES
from reelsight.contract.names import accepted_suffixes, is_video_key, uri_attribute, video_content_type
from reelsight.contract.options import resolve_run_options, with_tracking_rate
from reelsight.errors import ModelError, ParamError
from reelsight.models.registry import get_spec
from reelsight.params import OVERRIDE_KEYS, RunOptions

ASYNC = "async"
PROCESSING = "processing"
ROUTES = (ASYNC, PROCESSING)
ROUTE_KEY = "route"
# Metadata split=<N>: cut the video by time into N ranges, one Processing instance each.
SPLIT_KEY = "split"
CUSTOM_ATTRIBUTES_LIMIT = 1024


def ignore_reason(bucket: str, key: str, event_name: str, settings: Settings) -> str | None:
    """Why an event is not about an upload at all (nothing is recorded), or None when it is."""
    if event_name and not event_name.startswith("ObjectCreated"):
        return f"event {event_name} is not an object creation"
    if settings.input_bucket and bucket != settings.input_bucket:
        return f"bucket {bucket} is not the input bucket"
    if not (key.startswith(settings.upload_prefix) or key.startswith(settings.batch_prefix)):
        return f"key is outside {settings.upload_prefix} and {settings.batch_prefix}"
    if key.endswith("/"):
        return "key is a folder marker"
    return None


def rejection_reason(key: str, settings: Settings) -> str | None:
    """Why an upload is not processed (it becomes a REJECTED job), or None for a supported video."""
    if is_video_key(key, settings.video_suffixes):
        return None
    return f"not a supported video: the name must end in one of {accepted_suffixes(settings.video_suffixes)}"


@dataclass(frozen=True)
class ObjectOptions:
    """Options an upload asks for through its user metadata."""

    overrides: dict[str, str]  # normalized run-option keys -> string values, validated
    options: RunOptions  # the deployment defaults, the overrides, then the model's defaults
    route_hint: str | None  # "async" | "processing" | None (automatic)
    ignored_keys: tuple[str, ...]  # metadata keys that are neither run options nor "route"/"split"
    split: int | None = None  # split=<N>: time ranges (and instances) of a split job


def options_from_metadata(metadata: Mapping[str, str], environ: Mapping[str, str]) -> ObjectOptions:
    """Validate ``x-amz-meta-*`` values through RunOptions; ParamError names the bad key."""
    overrides: dict[str, str] = {}
    ignored: list[str] = []
    route_hint: str | None = None
    split: int | None = None
    for raw_key, value in metadata.items():
        key = raw_key.strip().lower().replace("-", "_")
        if key == SPLIT_KEY:
            split = split_count(value)
        elif key == ROUTE_KEY:
            route_hint = value.strip().lower() or None
            if route_hint not in (*ROUTES, "auto", None):
                raise ParamError(f"route must be one of async, processing, auto, got {value!r}")
            if route_hint == "auto":
                route_hint = None
        elif key in OVERRIDE_KEYS:
            if any(sep in value for sep in ",;="):
                raise ParamError(f"{key}: values must not contain ',', ';' or '=', got {value!r}")
            overrides[key] = value.strip()
        else:
            ignored.append(raw_key)
    # Tracking's own rate joins the overrides, so the worker and a Processing job get it explicitly.
    overrides = with_tracking_rate(overrides)
    try:
        # Exactly what the worker will run: the same deployment defaults reach it (see contract.options).
        options = resolve_run_options(environ, overrides)
        get_spec(options.model)
    except ModelError as exc:
        raise ParamError(str(exc)) from None
    return ObjectOptions(overrides, options, route_hint, tuple(sorted(ignored)), split)


def split_count(value: str) -> int:
    """The N of metadata ``split=<N>``; ParamError outside 1..MAX_INSTANCES."""
    text = value.strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_INSTANCES:
        raise ParamError(
            f"split must be a whole number of time ranges from 1 to {MAX_INSTANCES}, got {value!r}"
        )
    return int(text)


def choose_route(
    *, key: str, size: int, route_hint: str | None, model: str, settings: Settings
) -> tuple[str, str]:
    """``(route, why)``: Processing for big objects, ``batch/`` keys, MXNet models or on request."""
    if route_hint == PROCESSING:
        return PROCESSING, "requested by metadata route=processing"
    if key.startswith(settings.batch_prefix):
        return PROCESSING, f"key is under {settings.batch_prefix}"
    if size > settings.async_max_bytes:
        return PROCESSING, f"object is {size} bytes, over the async limit of {settings.async_max_bytes}"
    if get_spec(model).framework == "mxnet":
        return PROCESSING, f"model {model} runs on MXNet"
    if route_hint == ASYNC:
        return ASYNC, "requested by metadata route=async"
    return ASYNC, "default"


def content_type_for(key: str, head_content_type: str | None) -> str:
    if head_content_type and head_content_type.lower().startswith("video/"):
        return head_content_type
    return video_content_type(key)


def custom_attributes(job_id: str, overrides: Mapping[str, str], video_uri: str | None = None) -> str:
    """``job_id=<id>,k=v,...[,video_uri=...]`` for InvokeEndpointAsync; ParamError if SageMaker would refuse.

    The source URI travels percent-encoded (SageMaker takes printable ASCII only) so the worker can name
    the video in its summary; it is left out rather than failing the job when it would not fit.
    """
    text = ",".join([f"job_id={job_id}", *(f"{k}={v}" for k, v in sorted(overrides.items()))])
    if video_uri:
        with_uri = f"{text},video_uri={uri_attribute(video_uri)}"
        if len(with_uri) <= CUSTOM_ATTRIBUTES_LIMIT:
            text = with_uri
    if not text.isascii() or any(not 32 <= ord(ch) < 127 for ch in text):
        raise ParamError("parameters sent to the endpoint must be printable ASCII")
    if len(text) > CUSTOM_ATTRIBUTES_LIMIT:
        raise ParamError(f"parameters are {len(text)} characters, over SageMaker's {CUSTOM_ATTRIBUTES_LIMIT}")
    return text
