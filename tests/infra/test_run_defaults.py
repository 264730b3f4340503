"""The deployment's run defaults reach the dispatcher and the SageMaker model as the same values, so a
job record (written by the dispatcher) states what the worker runs, for any `-c model=… -c fps=…`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reelsight import envvars
from reelsight.params import ENV_KEYS
from tests.infra.synth import Synthesized, synthesize

PIPELINE = "ReelsightPipeline"


def _run_defaults(variables: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in variables.items() if name in ENV_KEYS}


def _dispatcher_and_model(synthesized: Synthesized) -> tuple[dict[str, Any], dict[str, Any]]:
    functions = synthesized.resources(PIPELINE, "AWS::Lambda::Function").values()
    dispatcher = next(f for f in functions if "dispatch" in f["Properties"]["Handler"])
    (model,) = synthesized.resources(PIPELINE, "AWS::SageMaker::Model").values()
    return (
        _run_defaults(dispatcher["Properties"]["Environment"]["Variables"]),
        _run_defaults(model["Properties"]["PrimaryContainer"]["Environment"]),
    )


@pytest.fixture(scope="module")
def fasterrcnn_at_2fps(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(
        tmp_path_factory.mktemp("cdk-out-defaults"), context={"model": "fasterrcnn", "fps": 2}, nag=False
    )


def test_default_deployment_gives_both_the_same_run_defaults(synthesized: Synthesized) -> None:
    dispatcher, model = _dispatcher_and_model(synthesized)
    assert dispatcher == model == {envvars.MODEL: "maskrcnn", envvars.FPS: "1"}


def test_context_changes_both_alike(fasterrcnn_at_2fps: Synthesized, tmp_path: Path) -> None:
    dispatcher, model = _dispatcher_and_model(fasterrcnn_at_2fps)
    assert dispatcher == model == {envvars.MODEL: "fasterrcnn", envvars.FPS: "2"}
