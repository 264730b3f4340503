"""No credential in a URL or a log: the viewer's session cookie, and the access log of the real server."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from reelsight.api.sessions import SESSION_COOKIE, SessionStore
from reelsight.errors import ParamError
from tests.api.support import TOKEN, ApiResources, ApiServer

BEARER = {"Authorization": f"Bearer {TOKEN}"}


def sign_in(server: ApiServer) -> httpx.Response:
    answer = httpx.post(f"{server.url}/v1/login", headers=BEARER, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer


def cookie_header(answer: httpx.Response) -> dict[str, str]:
    """The session as the browser sends it back (httpx keeps no Secure cookie on http)."""
    value = answer.headers["set-cookie"].split(";", 1)[0]
    assert value.startswith(f"{SESSION_COOKIE}=")
    return {"Cookie": value}


@pytest.mark.parametrize(
    "target",
    ["/?token=" + TOKEN, f"/jobs/{'a' * 32}?token={TOKEN}", "/v1/jobs?limit=5&access_token=" + TOKEN],
)
def test_a_token_in_the_url_is_refused(api_server: ApiServer, api_aws: ApiResources, target: str) -> None:
    """The viewer's old links: refused with a 400 that says how to sign in, even with a right header."""
    answer = httpx.get(f"{api_server.url}{target}", headers=BEARER, timeout=10)
    assert answer.status_code == 400
    detail = answer.json()["detail"]
    assert "never takes a credential in the URL" in detail and TOKEN not in detail


def test_sign_in_sets_a_strict_session_cookie(api_server: ApiServer, api_aws: ApiResources) -> None:
    answer = sign_in(api_server)
    attributes = [part.strip().lower() for part in answer.headers["set-cookie"].split(";")]
    assert {"httponly", "secure", "samesite=strict", "path=/v1", "max-age=28800"} <= set(attributes)
    assert answer.json()["expires_in"] == 28800
    assert TOKEN not in answer.headers["set-cookie"]  # an opaque id, not the token
    assert answer.headers["cache-control"] == "no-store"


def test_the_cookie_reads_and_signs_out(api_server: ApiServer, api_aws: ApiResources) -> None:
    cookie = cookie_header(sign_in(api_server))
    url = api_server.url
    assert httpx.get(f"{url}/v1/jobs", headers=cookie).status_code == 200
    # Reading only (and logging out): a POST with the cookie alone is not authorized.
    upload = httpx.post(f"{url}/v1/uploads", headers=cookie, json={"filename": "a.mp4"})
    assert upload.status_code == 401
    # Signing out ends the session on the server, not only in the browser.
    ended = httpx.post(f"{url}/v1/logout", headers=cookie)
    assert ended.status_code == 200 and ended.json() == {"ended": True}
    assert "max-age=0" in ended.headers["set-cookie"].lower()
    after = httpx.get(f"{url}/v1/jobs", headers=cookie)
    assert after.status_code == 401
    assert "session" in after.json()["detail"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-0123456789"},
        {"Cookie": f"{SESSION_COOKIE}=made-up-session-id"},
        {"Authorization": f"Basic {TOKEN}"},
    ],
)
def test_sign_in_needs_the_bearer_token(
    api_server: ApiServer, api_aws: ApiResources, headers: dict[str, str]
) -> None:
    answer = httpx.post(f"{api_server.url}/v1/login", headers=headers)
    assert answer.status_code == 401
    assert "set-cookie" not in answer.headers


def test_access_log_holds_no_query_credentials(
    start_api: Callable[..., ApiServer], api_aws: ApiResources
) -> None:
    """Whatever the client puts in the query string, the real server's access log keeps no value."""
    server = start_api(log_level="info")
    secrets = ["tok-secret-0001", "sig-secret-0002", "cred-secret-0003", "bare-secret-0004"]
    targets = [
        f"/?token={secrets[0]}",
        f"/v1/jobs?limit=5&X-Amz-Signature={secrets[1]}&X-Amz-Credential={secrets[2]}",
        f"/healthz?{secrets[3]}",
        f"/jobs/x?next={secrets[0]}&status={secrets[1]}",
    ]
    for target in targets:
        httpx.get(f"{server.url}{target}", headers=BEARER, timeout=10)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and server.log().count('HTTP/1.1"') < 1 + len(targets):
        time.sleep(0.1)
    log = server.log()
    assert '"GET /v1/jobs?limit=***&***&*** HTTP/1.1" 200' in log
    assert '"GET /?*** HTTP/1.1" 400' in log
    assert '"GET /healthz?*** HTTP/1.1" 200' in log
    assert '"GET /jobs/x?next=***&status=*** HTTP/1.1" 200' in log
    for secret in secrets:
        assert secret not in log


def test_sessions_expire_end_and_follow_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("reelsight.api.sessions.time.monotonic", lambda: now[0])
    store = SessionStore(seconds=60)
    first, second = store.create(TOKEN), store.create(TOKEN)
    assert first.session_id != second.session_id and len(first.session_id) >= 43
    assert store.valid(first.session_id, TOKEN)
    assert not store.valid("not-a-session", TOKEN)
    assert not store.valid(second.session_id, "a-rotated-token-0123456789")  # rotation ends it
    assert not store.valid(second.session_id, TOKEN)
    now[0] += 60
    assert not store.valid(first.session_id, TOKEN)  # expired
    assert len(store) == 0
    with pytest.raises(ParamError, match="REELSIGHT_API_SESSION_SECONDS"):
        SessionStore(seconds=10)


def test_session_store_stays_bounded() -> None:
    store = SessionStore(seconds=60, max_sessions=20)
    ids = [store.create(TOKEN).session_id for _ in range(25)]
    assert len(store) <= 20
    assert store.valid(ids[-1], TOKEN)
