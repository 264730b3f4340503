"""One integer-setting rule for every process: out of range is an error that names the variable."""

from __future__ import annotations

import pytest

from lambdas.common.settings import Settings
from reelsight import envvars
from reelsight.contract.settings import env_int
from reelsight.errors import ParamError
from reelsight.worker.config import ServeConfig


def test_blank_means_default_and_in_range_is_kept() -> None:
    assert env_int({}, "X", default=5, low=1, high=9) == 5
    assert env_int({"X": " "}, "X", default=5, low=1, high=9) == 5
    assert env_int({"X": " 7 "}, "X", default=5, low=1, high=9) == 7


@pytest.mark.parametrize("raw", ["0", "10", "seven", "1e3", "-1"])
def test_malformed_or_out_of_range_names_the_variable_and_range(raw: str) -> None:
    with pytest.raises(ParamError, match=r"X must be .*1\.\.9"):
        env_int({"X": raw}, "X", default=5, low=1, high=9)


def test_the_lambdas_and_the_worker_apply_the_same_rule() -> None:
    """The dispatcher once clamped what the worker refused; now both refuse."""
    with pytest.raises(ParamError, match=envvars.REQUEST_TTL_SECONDS):
        Settings.from_env({envvars.REQUEST_TTL_SECONDS: "30"})
    with pytest.raises(ParamError, match=envvars.MAX_CONCURRENCY):
        ServeConfig.from_env({envvars.MAX_CONCURRENCY: "0"})
