"""Context parsing: defaults, overrides and clear errors naming the key."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.config import CONTEXT_DEFAULTS, ConfigError, config_from_context
from tests.infra.synth import REPO_ROOT


def getter(values: dict[str, Any]):  # type: ignore[no-untyped-def]
    return values.get


def test_defaults_match_cdk_json() -> None:
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    for key, default in CONTEXT_DEFAULTS.items():
        assert context[key] == default, key
    config = config_from_context(getter({}))
    assert config.endpoint.instance_type == "ml.g4dn.xlarge"
    assert (config.endpoint.max_instances, config.endpoint.max_concurrent_invocations) == (5, 2)
    assert config.network.nat_gateways == 0 and config.data.retain_data
    assert config.notifications.alarm_email is None
    assert config.data.ingest_visibility_timeout_seconds == 6 * config.lambdas.dispatcher_timeout_seconds


def test_overrides() -> None:
    config = config_from_context(
        getter(
            {
                "maxInstances": "3",
                "fps": "0.5",
                "natGateways": 1,
                "alarmEmail": "ops@example.com",
                "dataRemovalPolicy": "destroy",
                "apiInstanceType": "t3.medium",
            }
        )
    )
    assert config.endpoint.max_instances == 3 and config.endpoint.fps == 0.5
    assert config.network.nat_gateways == 1 and not config.data.retain_data
    assert config.notifications.alarm_email == "ops@example.com"
    assert config.api.instance_type == "t3.medium"


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"maxInstances": "many"}, "maxInstances"),
        ({"maxInstances": 0}, "maxInstances"),
        ({"fps": 0}, "fps"),
        ({"natGateways": 5}, "natGateways"),
        ({"dataRemovalPolicy": "keep"}, "dataRemovalPolicy"),
        ({"alarmEmail": "not an address"}, "alarmEmail"),
        ({"instanceType": "g4dn.xlarge"}, "instanceType"),
        ({"model": "no-such-model"}, "model"),
    ],
)
def test_bad_values_name_the_key(values: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        config_from_context(getter(values))
