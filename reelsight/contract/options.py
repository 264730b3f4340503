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
"""

from __future__ import annotations

from collections.abc import Mapping

from reelsight import envvars
from reelsight.models.registry import get_spec, resize_overrides
from reelsight.params import ENV_KEYS, RunOptions, options_from_env

_RESIZE_VARIABLES = (envvars.RESIZE, envvars.SIZE)
_RESIZE_KEYS = frozenset({"resize", "size"})


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
    wanted = dict(overrides or {})
    options = options_from_env(deployment).with_overrides(wanted)
    if resize_given(deployment, wanted):
        return options
    return with_model_defaults(options)
