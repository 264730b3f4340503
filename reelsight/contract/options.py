"""Run options as every route resolves them, so a job record states exactly what the worker runs.

Three layers, later ones winning:

1. **deployment defaults**: ``REELSIGHT_*`` variables that the CDK app builds once
   (:func:`deployment_environment`) and gives, unchanged, to the dispatcher Lambda, the SageMaker
   model and every Processing job;
2. **per-upload overrides**: ``x-amz-meta-*`` values, custom attributes or a job's options;
3. **model defaults**: when neither layer names a resize, a torchvision model that does not resize
   its input itself (DeepLabV3) gets frames fitted into its input size. MXNet models keep the source
   size, as seed 000 ran them.

The dispatcher records ``resolve_run_options(its environment, the upload's metadata)``; the worker
runs ``resolve_run_options(its environment, the same overrides)`` with the same environment
values, so the two agree by construction.

Every numeric value, in every layer, is checked against its one range in
``reelsight.contract.values.OPTION_RANGES`` as it is resolved: NaN, infinities and absurd
magnitudes are a ``ParamError`` (400 from the worker and the API, exit code 2 from the CLI, a
FAILED job record from the dispatcher) whose message states the accepted range.
"""

from __future__ import annotations

from collections.abc import Mapping

from reelsight import envvars
from reelsight.errors import ParamError, ReelsightError
from reelsight.models.registry import ModelSpec, get_spec, resize_overrides
from reelsight.params import ENV_KEYS, RunOptions, options_from_env, parse_bool

_RESIZE_VARIABLES = (envvars.RESIZE, envvars.SIZE)
_RESIZE_KEYS = frozenset({"resize", "size"})
_RATE_KEYS = frozenset({"fps", "every_seconds"})
# Tracking matches boxes between consecutive samples by overlap (IoU), so it needs samples close in
# time: at 1 fps a walking person moves more than their own width between samples. 10 fps keeps
# neighbouring boxes overlapping at walking and urban driving speeds; below 5 fps IDs break up.
TRACK_FPS = 10.0
TRACK_MIN_FPS = 5.0
TRACKABLE_TASKS = ("detection", "instance_segmentation")  # models that output boxes


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(float(value))


def deployment_environment(*, model: str, fps: float) -> dict[str, str]:
    """The deployment's run defaults as the ``REELSIGHT_*`` variables every route reads."""
    return {envvars.MODEL: model, envvars.FPS: _number(fps)}


def run_option_variables(environ: Mapping[str, str]) -> dict[str, str]:
    """The ``REELSIGHT_*`` run-option variables set in ``environ``, to hand on to another route."""
    return {name: environ[name] for name in ENV_KEYS if (environ.get(name) or "").strip()}


def _normalized_keys(overrides: Mapping[str, str]) -> set[str]:
    return {str(key).strip().lower().replace("-", "_") for key in overrides}


def resize_given(deployment: Mapping[str, str], overrides: Mapping[str, str]) -> bool:
    """True when the deployment or the overrides choose the resize themselves."""
    in_deployment = any((deployment.get(name) or "").strip() for name in _RESIZE_VARIABLES)
    return in_deployment or bool(_RESIZE_KEYS & _normalized_keys(overrides))


def with_model_defaults(options: RunOptions) -> RunOptions:
    """Fit frames for a torchvision model that does not resize itself; others are unchanged."""
    if get_spec(options.model).framework != "torchvision":
        return options
    return options.with_overrides(resize_overrides(options.model))


def resolve_run_options(
    deployment: Mapping[str, str], overrides: Mapping[str, str] | None = None
) -> RunOptions:
    """Deployment defaults, then per-upload overrides, then the model's defaults (see module doc).

    Raises ``ParamError`` naming the bad variable or key.
    """
    wanted = with_tracking_rate(overrides or {})
    options = check_tracking(options_from_env(deployment).with_overrides(wanted))
    if resize_given(deployment, wanted):
        return options
    return with_model_defaults(options)


# --- tracking: the one place for its default rate, its checks and its warning ---


def with_tracking_rate(overrides: Mapping[str, str]) -> dict[str, str]:
    """The overrides, plus ``fps=TRACK_FPS`` when they turn tracking on and name no sampling rate.

    The rate is added to the per-upload layer, so every later route (custom attributes, a Processing
    job's environment) receives it explicitly. With ``REELSIGHT_TRACK`` set by the deployment,
    the deployment's ``REELSIGHT_FPS`` is the rate.
    """
    wanted = dict(overrides)
    normalized = {str(key).strip().lower().replace("-", "_"): str(value) for key, value in wanted.items()}
    if "track" not in normalized or _RATE_KEYS & set(normalized):
        return wanted
    if parse_bool("track", normalized["track"].strip()):
        wanted["fps"] = _number(TRACK_FPS)
    return wanted


def check_tracking(options: RunOptions, spec: ModelSpec | None = None) -> RunOptions:
    """``options``; ParamError when they track with a model that outputs no boxes, or an MXNet one.

    ``spec`` is the loaded model's when the caller holds it; otherwise the registry's for
    ``options.model``. An unknown model name is left to the checks that load it.
    """
    if not options.track:
        return options
    if spec is None:
        try:
            spec = get_spec(options.model)
        except ReelsightError:
            return options
    if spec.task not in TRACKABLE_TASKS:
        raise ParamError(
            f"track needs a model that outputs boxes ({' or '.join(TRACKABLE_TASKS)}); "
            f"{spec.name} is a {spec.task} model"
        )
    if spec.framework == "mxnet":  # the MXNet image carries no tracker
        raise ParamError(
            f"track is not available for MXNet models such as {spec.name}; use a torchvision model"
        )
    return options


def sampling_rate(options: RunOptions) -> float:
    """Samples per second of video time."""
    return float(options.sampling.fps) if options.sampling.fps else 1.0 / options.sampling.interval


def tracking_warnings(options: RunOptions) -> list[str]:
    """The summary's warning when the sampling rate is too low to follow objects."""
    rate = sampling_rate(options)
    if not options.track or rate >= TRACK_MIN_FPS:
        return []
    return [
        f"sampling at {rate:g} fps is too low to track reliably (objects move too far between samples, "
        f"so one object may get several track IDs); sample at {TRACK_MIN_FPS:g} fps or more "
        f"(tracking's default is {TRACK_FPS:g} fps)"
    ]
