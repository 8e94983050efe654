"""zt.asgi / zt.fastapi under uvicorn and zt.wsgi under waitress: real servers on 127.0.0.1,
driven by a real HTTP client (httpx)."""

import http.client
import urllib.parse

import httpx
import pytest

from conftest import mint

PROBLEM = "application/problem+json"


@pytest.fixture(params=["asgi", "wsgi"])
def server(request, serve):
    return request.param, serve(request.param)


def get(url, path, token=None, headers=(), method="GET"):
    hdrs = list(headers)
    if token:
        hdrs.append(("authorization", f"Bearer {token}"))
    with httpx.Client(timeout=10) as c:
        return c.request(method, url + path, headers=hdrs)


def assert_denied(r, status, challenge, reasons):
    assert r.status_code == status, r.text
    assert r.headers.get("www-authenticate") == challenge
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["status"] == status and body["reasons"] == reasons
    assert r.headers["x-zt-decision-id"] == body["decision_id"]
    return body


def test_allowed_request_carries_the_decision_and_obligations(server):
    _, url = server
    r = get(url, "/orders/7?page=2", mint())
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["order"], body["sub"], body["outcome"]) == ("7", "alice", "allow")
    assert body["injected"] == "yes"  # request_headers obligation
    assert r.headers["x-a"] == "1"  # response_headers obligation
    assert "x-zt-would-deny" not in r.headers and "x-zt-decision-id" not in r.headers


def test_denials_have_the_core_status_challenge_and_problem(server):
    _, url = server
    assert_denied(get(url, "/orders/1"), 401, 'Bearer realm="api"', ["token_missing"])
    bad = "abc.def.ghi"
    r = get(url, "/orders/1", bad)
    assert_denied(r, 401, 'Bearer realm="api", error="invalid_token", error_description="token_malformed"',
                  ["token_malformed"])
    assert bad not in r.text and all(bad not in v for v in r.headers.values())
    expired = mint(exp=1000, iat=900)
    r = get(url, "/orders/1", expired)
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]
    assert expired not in r.text
    assert_denied(get(url, "/orders", mint(), method="POST"), 403,
                  'Bearer realm="api", error="insufficient_scope", error_description="policy_denied"',
                  ["policy_denied"])
    assert_denied(get(url, "/admin", mint()), 401,
                  'Bearer realm="api", error="insufficient_user_authentication", '
                  'error_description="step_up_required", acr_values="mfa", max_age=60',
                  ["step_up_required"])


@pytest.mark.parametrize(
    "path, headers",
    [
        ("/orders/1", [("authorization", "Bearer a b")]),
        ("/orders/1", [("authorization", "Bearer")]),
        ("/orders/1", [("authorization", "Bearer a"), ("authorization", "Bearer b")]),
        ("/orders/1?access_token=abc", [("authorization", "Bearer abc")]),
    ],
)
def test_malformed_authorization_is_invalid_request(server, path, headers):
    _, url = server
    r = get(url, path, headers=headers)
    assert r.status_code == 401
    assert 'error="invalid_request"' in r.headers["www-authenticate"]
    assert r.json()["reasons"] == ["authorization_malformed"]


def test_skip_path_is_not_decided(server):
    _, url = server
    r = get(url, "/healthz")
    assert r.status_code == 200 and r.json() == {"ok": True, "decided": False}


def test_warn_mode_marks_instead_of_denying(serve):
    for kind in ("asgi", "wsgi"):
        url = serve(kind, mode="warn")
        r = get(url, "/admin")
        assert r.status_code == 200, (kind, r.text)
        assert r.headers["x-zt-would-deny"] == "token_missing"
        assert get(url, "/orders/1", mint()).headers.get("x-zt-would-deny") is None


def test_fastapi_require_dependency(serve):
    url = serve("asgi", mode="warn")
    # The middleware only warns; the route enforces (mode="enforce" on Require).
    r = get(url, "/route")
    assert_denied(r, 401, 'Bearer realm="zt"', ["token_missing"])
    assert get(url, "/route", mint()).json() == {"route": "allow"}
    # Without the middleware (skipped prefix) the dependency decides by itself.
    assert_denied(get(url, "/direct"), 401, 'Bearer realm="direct"', ["token_missing"])
    assert get(url, "/direct", mint(sub="dora")).json() == {"sub": "dora"}


@pytest.mark.parametrize(
    "raw_path, status",
    [
        ("/%61dmin", 401),  # reaches /admin: decided as /admin (step-up), not as "/%61dmin"
        ("/%6Frders/5", 200),  # reaches /orders/5: decided (and allowed) as /orders/5
    ],
)
def test_percent_encoded_paths_are_decided_as_the_route_they_reach(server, raw_path, status):
    _, url = server
    # http.client sends the target verbatim (no client-side normalisation).
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request("GET", raw_path, headers={"authorization": f"Bearer {mint()}"})
        r = conn.getresponse()
        body = r.read()
    finally:
        conn.close()
    assert r.status == status, body
    if status == 401:
        assert 'error="insufficient_user_authentication"' in r.getheader("www-authenticate")
