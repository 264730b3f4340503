"""The client environments' locks: the clients the local-stack tests drive, on the botocore that the
project's own environment pins, so a difference the tests see is the stack's, not botocore's."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import locks

REPO = Path(__file__).resolve().parents[2]


def _pins(name: str) -> dict[str, str]:
    return {key: pin.version for key, pin in locks.read_pins(REPO / "requirements" / f"{name}.txt").items()}


@pytest.mark.parametrize("name", ["clients", "clients-v3"])
def test_client_locks_share_the_project_botocore(name: str) -> None:
    assert _pins(name)["botocore"] == _pins("dev")["botocore"]


def test_client_locks_hold_the_clients_the_tests_name() -> None:
    v2, v3 = _pins("clients"), _pins("clients-v3")
    assert v2["awscli"].startswith("1.46.") and v2["sagemaker"].startswith("2.257.")
    assert v3["sagemaker"].startswith("3.27.")
    assert {lock.name for lock in locks.LOCKS} >= {"clients", "clients-v3"}
