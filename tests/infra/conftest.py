"""One synthesis per session (with cdk-nag), and one more without it for the determinism check."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra.synth import Synthesized, synthesize


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    # app.synth() raises when cdk-nag (or another validation plugin) reports an unacknowledged finding.
    return synthesize(tmp_path_factory.mktemp("cdk-out"), nag=True)


@pytest.fixture(scope="session")
def synthesized_again(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk-out-again"), nag=False)


@pytest.fixture(scope="session")
def templates_dir(synthesized: Synthesized, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The templates alone (no asset folders), for the validators."""
    target = tmp_path_factory.mktemp("templates")
    for path in synthesized.outdir.glob("*.template.json"):
        (target / path.name).write_bytes(path.read_bytes())
    return target
