"""Run options resolve the same way on every route: the dispatcher records what the worker runs."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import pytest

from lambdas.common.settings import Settings
from lambdas.dispatch import routing, submit
from reelsight import envvars
from reelsight.contract.options import deployment_environment, resolve_run_options, run_option_variables
from reelsight.contract.processing import ProcessingJobDefinition
from reelsight.contract.values import OPTION_RANGES
from reelsight.errors import ParamError
from reelsight.params import ENV_KEYS, RunOptions, SamplingParams
from reelsight.worker import handler
from reelsight.worker.processing import settings_from_environment
from stacks.config import EndpointConfig

DEPLOYMENT = EndpointConfig(model="fasterrcnn", fps=2).run_defaults()


def test_deployment_defaults_then_overrides_then_model_defaults() -> None:
    assert DEPLOYMENT == {envvars.MODEL: "fasterrcnn", envvars.FPS: "2"}
    assert deployment_environment(model="ssdlite", fps=0.5)[envvars.FPS] == "0.5"
    options = resolve_run_options(DEPLOYMENT, {"max-frames": "3"})
    assert (options.model, options.sampling.fps, options.sampling.max_frames) == ("fasterrcnn", 2.0, 3)
    assert resolve_run_options(DEPLOYMENT, {"fps": "5"}).sampling.fps == 5.0


def test_a_model_that_does_not_resize_itself_gets_its_fit_unless_a_resize_is_chosen() -> None:
    deeplab = {envvars.MODEL: "deeplabv3_mobilenet_v3"}
    fitted = resolve_run_options(deeplab).sampling
    assert (fitted.resize, fitted.size) == ("fit", (520, 520))
    assert resolve_run_options(deeplab, {"resize": "none"}).sampling.resize == "none"
    assert resolve_run_options({**deeplab, envvars.RESIZE: "none"}).sampling.resize == "none"
    assert resolve_run_options(DEPLOYMENT).sampling.resize == "none"  # detectors resize themselves
    mxnet = resolve_run_options({envvars.MODEL: "deeplab_resnet101_citys"}).sampling
    assert (mxnet.resize, mxnet.size) == ("none", None)


def test_bad_values_name_their_source() -> None:
    with pytest.raises(ParamError, match=envvars.FPS):
        resolve_run_options({envvars.FPS: "fast"})
    with pytest.raises(ParamError, match="fps"):
        resolve_run_options({}, {"fps": "-1"})


# One value past each end of every numeric option's range, and the values no range admits.
EXTREMES = ("nan", "inf", "-inf", "1e308", "-1e308")
PAST_THE_ENDS = {
    "fps": ("0.000001", "1000.5"),
    "every_seconds": ("0.0001", "100001"),
    "start": ("-0.5", "10000001"),
    "end": ("-1", "10000001"),
    "max_frames": ("0", "10000001"),
    "batch_size": ("0", "1025"),
    "score_threshold": ("-0.01", "1.01"),
}


def test_every_numeric_run_option_has_one_range() -> None:
    """A numeric field without a range would again pass NaN or 1e308 through to the worker."""
    numeric: set[str] = set()
    for cls in (RunOptions, SamplingParams):
        for name, hint in typing.get_type_hints(cls).items():
            if {int, float} & set(typing.get_args(hint) or (hint,)) or "tuple[int, int]" in str(hint):
                numeric.add(name)
    assert numeric == set(PAST_THE_ENDS) | {"size"}
    assert numeric <= set(OPTION_RANGES)


@pytest.mark.parametrize("key", sorted(PAST_THE_ENDS))
@pytest.mark.parametrize("where", ["override", "deployment"])
def test_numeric_extremes_are_refused_with_the_range(key: str, where: str) -> None:
    accepted = OPTION_RANGES[key].describe()
    variable = next(name for name, option in ENV_KEYS.items() if option == key)
    for value in (*EXTREMES, *PAST_THE_ENDS[key]):
        with pytest.raises(ParamError) as caught:
            if where == "override":
                resolve_run_options(DEPLOYMENT, {key.replace("_", "-"): value})
            else:
                resolve_run_options({**DEPLOYMENT, variable: value})
        message = str(caught.value)
        assert f"{key} must be {accepted}" in message, message
        assert where == "override" or variable in message


@pytest.mark.parametrize("key", sorted(PAST_THE_ENDS))
def test_both_ends_of_every_range_are_accepted(key: str) -> None:
    bounds = OPTION_RANGES[key]
    for bound in (bounds.low, bounds.high):
        text = str(int(bound)) if bounds.integer else repr(float(bound))
        if key == "end" and bound == 0:
            continue  # end must also be after start
        resolved = resolve_run_options(DEPLOYMENT, {key: text})
        value = getattr(resolved, key, None) if hasattr(resolved, key) else getattr(resolved.sampling, key)
        assert value == bound


def test_sizes_and_huge_integers_are_refused_without_overflow() -> None:
    sides = "an integer from 1 to 16384 pixels per side"
    for size in ("16385x10", "0x10", "99999999999999999999999x1"):
        with pytest.raises(ParamError, match=f"size must be (WIDTHxHEIGHT with sides )?{sides}"):
            resolve_run_options(DEPLOYMENT, {"resize": "fit", "size": size})
    with pytest.raises(ParamError, match="max_frames must be an integer from 1 to 10000000") as caught:
        resolve_run_options(DEPLOYMENT, {"max_frames": "9" * 5000})  # past Python's int() digit limit
    assert len(str(caught.value)) < 200
    with pytest.raises(ParamError, match="fps must be a number from 0.00001 to 1000"):
        SamplingParams(fps=1e308).validate()  # options built in code are checked the same way
    with pytest.raises(ParamError, match="batch_size must be an integer .* got an integer of about"):
        RunOptions(batch_size=10**6000).validate()  # too long for repr(); never printed whole


def test_only_run_option_variables_are_handed_on() -> None:
    environ = {**DEPLOYMENT, envvars.JOBS_TABLE: "jobs", envvars.SIZE: " ", "PATH": "/bin"}
    assert run_option_variables(environ) == DEPLOYMENT


def _dispatcher_environment() -> dict[str, str]:
    return {
        **DEPLOYMENT,
        envvars.RESULTS_BUCKET: "results",
        envvars.PROCESSING_JOB_DEFINITION: ProcessingJobDefinition(
            role_arn="arn:aws:iam::123456789012:role/processing",
            image_uri="123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker:1",
            instance_type="ml.g4dn.xlarge",
            results_bucket="results",
        ).to_json(),
    }


@pytest.mark.parametrize(
    "metadata",
    [
        {},
        {"fps": "4", "max-frames": "7"},
        {"mode": "keyframes"},
        {"track": "true"},
        {"track": "yes", "fps": "15"},
    ],
)
def test_a_processing_job_runs_the_options_the_dispatcher_records(
    metadata: dict[str, str], tmp_path: Path
) -> None:
    environ = _dispatcher_environment()
    wanted = routing.options_from_metadata(metadata, environ)
    request = submit.processing_request(
        Settings.from_env(environ),
        job_id="job-1",
        input_location="s3://in/incoming/a.mp4",
        overrides=wanted.overrides,
    )
    job_config = tmp_path / "processingjobconfig.json"
    job_config.write_text(json.dumps(request))
    worker = settings_from_environment(
        {envvars.JOB_CONFIG: str(job_config), envvars.RESOURCE_CONFIG: str(tmp_path / "none.json")},
        overrides={},
        input_dir=str(tmp_path),
        output_dir=str(tmp_path),
    )
    assert worker.options.to_dict() == wanted.options.to_dict()


class _Loader:
    def __call__(self, name: str, **kwargs: Any) -> Any:
        return type("Predictor", (), {"spec": type("Spec", (), {"name": name})()})()


@pytest.mark.parametrize(
    "metadata",
    [
        {},
        {"fps": "4", "score-threshold": "0.7"},
        {"start": "1", "end": "3"},
        {"track": "true"},
        {"track": "on", "every-seconds": "0.25"},
    ],
)
def test_an_async_invocation_runs_the_options_the_dispatcher_records(metadata: dict[str, str]) -> None:
    """The SageMaker model's environment and the dispatcher's carry the same deployment defaults."""
    wanted = routing.options_from_metadata(metadata, _dispatcher_environment())
    attributes = routing.custom_attributes("job-1", wanted.overrides, video_uri="s3://in/incoming/a.mp4")
    endpoint_defaults = resolve_run_options({**DEPLOYMENT, envvars.MAX_CONCURRENCY: "2"})
    loaded = handler.model_fn(
        Path("/nonexistent"), endpoint_defaults, weights_from_env=False, loader=_Loader()
    )
    ran = handler.request_options(loaded, attributes, "job-1").options
    assert ran.to_dict() == wanted.options.to_dict()
