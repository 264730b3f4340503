"""Run options resolve the same way on every route: the dispatcher records what the worker runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lambdas.common.settings import Settings
from lambdas.dispatch import routing, submit
from reelsight import envvars
from reelsight.contract.options import deployment_environment, resolve_run_options, run_option_variables
from reelsight.contract.processing import ProcessingJobDefinition
from reelsight.errors import ParamError
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


@pytest.mark.parametrize("metadata", [{}, {"fps": "4", "max-frames": "7"}, {"mode": "keyframes"}])
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


@pytest.mark.parametrize("metadata", [{}, {"fps": "4", "score-threshold": "0.7"}, {"start": "1", "end": "3"}])
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
