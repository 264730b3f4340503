"""Token sources (env, Secrets Manager, SSM on the moto server) and the failed-attempt limiter."""

from __future__ import annotations

import json

import boto3
import pytest

from reelsight import envvars
from reelsight.api.auth import FailureLimiter, bearer_token, token_source_from_env, tokens_match
from reelsight.errors import ParamError
from reelsight.testing.moto_server import MotoServer

SECRET = "rotating-secret-token-0123456789"


@pytest.fixture()
def session(aws_env: MotoServer) -> boto3.session.Session:
    return boto3.session.Session()


def test_token_from_environment_wins() -> None:
    source = token_source_from_env(
        {envvars.API_TOKEN: "  plain-token-0123456789  ", envvars.API_TOKEN_PARAMETER: "x"}
    )
    assert source.get() == "plain-token-0123456789"


def test_token_from_secrets_manager_plain_and_json(session: boto3.session.Session) -> None:
    client = session.client("secretsmanager")
    plain = client.create_secret(Name="reelsight/api-token-plain", SecretString=SECRET)["ARN"]
    as_json = client.create_secret(
        Name="reelsight/api-token-json", SecretString=json.dumps({"token": SECRET})
    )["ARN"]
    for arn in (plain, as_json):
        assert token_source_from_env({envvars.API_TOKEN_SECRET_ARN: arn}, session).get() == SECRET
    broken = client.create_secret(Name="reelsight/api-token-broken", SecretString='{"password": "x"}')["ARN"]
    with pytest.raises(ParamError, match="token"):
        token_source_from_env({envvars.API_TOKEN_SECRET_ARN: broken}, session).get()


def test_token_from_ssm_secure_string(session: boto3.session.Session) -> None:
    session.client("ssm").put_parameter(
        Name="/reelsight/api-token", Value=SECRET, Type="SecureString", Overwrite=True
    )
    assert (
        token_source_from_env({envvars.API_TOKEN_PARAMETER: "/reelsight/api-token"}, session).get() == SECRET
    )


def test_missing_or_short_token_is_refused() -> None:
    with pytest.raises(ParamError, match=envvars.API_TOKEN):
        token_source_from_env({})
    with pytest.raises(ParamError, match="shorter"):
        token_source_from_env({envvars.API_TOKEN: "short"}).get()


def test_bearer_parsing_and_comparison() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer   abc ") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer ") is None
    assert bearer_token(None) is None
    assert tokens_match("same-token", "same-token")
    assert not tokens_match("same-token", "same-tokeN")
    assert not tokens_match("ünïcode", "unicode")


def test_limiter_blocks_after_limit_and_forgets_after_window(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("reelsight.api.auth.time.monotonic", lambda: now[0])
    limiter = FailureLimiter(limit=3, window=60)
    for _ in range(3):
        assert limiter.retry_after("10.0.0.1") == 0
        limiter.record_failure("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") == 61
    assert limiter.retry_after("10.0.0.2") == 0  # per address
    now[0] += 30
    assert limiter.retry_after("10.0.0.1") == 31
    now[0] += 30
    assert limiter.retry_after("10.0.0.1") == 0
    with pytest.raises(ParamError):
        FailureLimiter(limit=0)
