"""A context change that changes the templates changes the summaries, in exactly the lines that name it.

Each variant is synthesized once (module-scoped, without cdk-nag: tests/infra/test_variants.py covers nag on
variants); the default is the session's synthesis from conftest.py.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

import pytest

from stacks.summary import summarize
from tests.infra.synth import Synthesized, cdk_json_context, synthesize


@dataclass(frozen=True)
class Variant:
    context: dict[str, Any]
    setting: str  # how the summary names the setting, up to and including "="
    old: str
    new: str
    also: tuple[str, ...] = ()  # other names of the same setting in the summary


def names_any(line: str, spec: Variant, value: str) -> bool:
    return any(names(line, setting, value) for setting in (spec.setting, *spec.also))


VARIANTS = {
    # An MXNet/GluonCV model: the worker's default model (the image's MODEL build argument is an asset hash).
    "mxnet-model": Variant(
        {"model": "deeplab_resnet101_citys"}, "REELSIGHT_MODEL=", "maskrcnn", "deeplab_resnet101_citys"
    ),
    # Processing instances per job reach the template in the dispatcher's Processing job definition.
    "processing-count": Variant(
        {"processingInstanceCount": 3}, "REELSIGHT_PROCESSING_JOB_DEFINITION.instance_count=", "1", "3"
    ),
    # A larger endpoint instance: the endpoint config's production variant.
    "endpoint-instance-type": Variant(
        {"instanceType": "ml.g5.xlarge"},
        "instance-type=",
        "ml.g4dn.xlarge",
        "ml.g5.xlarge",
        also=("REELSIGHT_INSTANCE_TYPE=",),  # the worker's, for its cost receipt
    ),
    # More endpoint instances: the scalable target's upper bound.
    "max-instances": Variant({"maxInstances": 8}, "MaxCapacity=", "5", "8"),
}


def summary_lines(synthesized: Synthesized) -> list[str]:
    return [
        f"{stack}: {line}"
        for stack in sorted(synthesized.templates)
        for line in summarize(synthesized.templates[stack])
    ]


def changed(before: list[str], after: list[str]) -> tuple[list[str], list[str]]:
    """(removed, added) lines of the line diff."""
    diff = [
        line
        for line in difflib.unified_diff(before, after, n=0, lineterm="")
        if line[:3] not in ("---", "+++")
    ]
    removed = [line[1:] for line in diff if line.startswith("-")]
    added = [line[1:] for line in diff if line.startswith("+")]
    return removed, added


@pytest.fixture(scope="module")
def default_summary(synthesized: Synthesized) -> list[str]:
    return summary_lines(synthesized)


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Variant, list[str]]:
    spec = VARIANTS[request.param]
    synthesized = synthesize(
        tmp_path_factory.mktemp(f"cdk-out-{request.param}"), context=spec.context, nag=False
    )
    return spec, summary_lines(synthesized)


def test_variant_defaults_are_the_committed_context() -> None:
    context = cdk_json_context()
    assert (context["model"], context["processingInstanceCount"], context["maxInstances"]) == (
        "maskrcnn",
        1,
        5,
    )


def test_variant_changes_exactly_the_lines_that_name_it(
    default_summary: list[str], variant: tuple[Variant, list[str]]
) -> None:
    spec, summary = variant
    removed, added = changed(default_summary, summary)
    assert added, f"{spec.context} changed no summary line"
    # The setting's lines change their value; nothing appears or disappears around them.
    assert len(removed) == len(added), (removed, added)
    for line in removed:
        assert names_any(line, spec, spec.old), line
    for line in added:
        assert names_any(line, spec, spec.new), line


def names(line: str, setting: str, value: str) -> bool:
    """The line shows ``setting`` with exactly ``value`` (``=1`` does not match ``=10``)."""
    return re.search(rf"(^|\s){re.escape(setting + value)}(\s|$)", line) is not None
