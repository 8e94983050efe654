"""The rest of the Python surface: the decision-log callback, authorize_http, http_answer,
many threads, and arbitrary (hypothesis) request values."""

import gc
import os
import json
import subprocess
import sys
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zt
from conftest import POLICY, ROOT, config, mint, testkit


def with_callback(callback, **log):
    return zt.Authorizer.from_dict(
        config(decision_log={"sink": "callback", **log}), policy_files={"a.rego": POLICY}, log_callback=callback
    )


def test_log_callback_receives_every_record():
    records = []
    a = with_callback(records.append)
    ds = [a.authorize(mint(), method="GET", path=f"/orders/{i}") for i in range(3)]
    a.flush()
    got = [json.loads(r) for r in records]
    assert [r["decision_id"] for r in got] == [d.id for d in ds]
    assert all(r["outcome"] == "allow" and "timestamp" in r for r in got)
    a.close()


def test_log_callback_errors_never_reach_requests(monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(u.exc_type))

    def broken(_record):
        raise ValueError("sink is broken")

    a = with_callback(broken)
    assert a.authorize(mint(), method="GET", path="/orders/1").allowed
    a.flush()
    assert seen == [ValueError]
    a.close()


def test_log_callback_misuse_is_refused():
    with pytest.raises(zt.ConfigError) as e:
        zt.Authorizer.from_dict(config(), policy_files={"a.rego": POLICY}, log_callback=print)
    assert (e.value.code, e.value.key) == ("decision_log_callback_unused", "decision_log.sink")
    with pytest.raises(TypeError, match="log_callback"):
        with_callback("not callable")
    with pytest.raises(zt.ConfigError) as e:
        zt.Authorizer.from_dict(config(decision_log={"sink": "callback"}), policy_files={"a.rego": POLICY})
    assert e.value.code == "decision_log_no_callback"


def test_slow_callback_never_deadlocks_close_or_drop():
    def slow(_record):
        time.sleep(0.2)

    token = mint()
    a = with_callback(slow, queue_capacity=16)
    started = time.monotonic()
    for i in range(10):
        a.authorize(token, method="GET", path=f"/orders/{i}")
    assert time.monotonic() - started < 1  # the request path never waits for the 2 s of sink
    report = a.close(timeout=0.3)
    assert report["completed"] is False and report["abandoned"] >= 1

    # Dropping: zt stops the log with the GIL released, so the sink (which needs the GIL)
    # drains its ~1 s of records; holding the GIL would stall until the 5 s close timeout.
    b = with_callback(slow, queue_capacity=16)
    for i in range(5):
        b.authorize(token, method="GET", path=f"/orders/{i}")
    started = time.monotonic()
    del b
    gc.collect()
    assert time.monotonic() - started < 3.5


def test_close_accepts_any_timeout(authz):
    assert authz.close(timeout=float("inf"))["completed"] is True
    assert authz.close(timeout=-1)["completed"] is True


def test_interpreter_exit_flushes_the_callback_log():
    token = mint()
    script = f"""
import sys, json, time
sys.path.insert(0, {str(ROOT / "zt-py" / "tests")!r})
import zt
from conftest import POLICY, config
def sink(record):
    time.sleep(0.05)
    print("record", json.loads(record)["outcome"], flush=True)
a = zt.Authorizer.from_dict(config(decision_log={{"sink": "callback"}}), policy_files={{"a.rego": POLICY}}, log_callback=sink)
for i in range(5):
    a.authorize({token!r}, method="GET", path="/orders/1")
# no close(): zt closes it at exit, while Python still runs the callback
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("record allow") == 5


def test_authorize_http_reads_like_zt_tower(authz):
    t = mint()
    d = authz.authorize_http("GET", "/orders/1", [(b"authorization", f"Bearer {t}".encode()), (b"host", b"x")])
    assert d.allowed and d.claims["sub"] == "alice"
    assert authz.authorize_http("GET", "/orders/1", {"Authorization": f"Bearer {t}"}, client="10.1.2.3").allowed
    d = authz.authorize_http("GET", "/orders/1?access_token=a", [("authorization", f"Bearer {t}")])
    assert d.reasons == ["authorization_malformed"]
    assert authz.authorize_http("GET", "/orders/1", []).reasons == ["token_missing"]
    assert authz.authorize_http("GET", "/orders/1", [("authorization", "Basic dTpw")]).reasons == ["token_missing"]
    with pytest.raises(TypeError, match="headers"):
        authz.authorize_http("GET", "/", "authorization: x")
    with pytest.raises(TypeError, match="headers"):
        authz.authorize_http("GET", "/", [("a",)])


def test_dpop_bound_tokens_through_the_http_path(authz):
    # A token bound to fixture key ec-p384 (cnf.jkt) and a proof by that key, from the test kit.
    kit = lambda *args: subprocess.run([testkit(), *args], check=True, capture_output=True, text=True, timeout=30).stdout.strip()
    t = mint(cnf={"jkt": kit("jkt", "--key", "ec-p384")})
    proof = lambda method: kit("dpop-proof", "--key", "ec-p384", "--alg", "ES384", "--htm", method,
                               "--htu", "https://api.example.com/orders/1", "--token", t)
    headers = lambda p: [("authorization", f"DPoP {t}"), ("host", "api.example.com"), ("dpop", p)]
    d = authz.authorize_http("GET", "/orders/1", headers(proof("GET")))
    assert d.allowed, d.reasons
    assert authz.authorize_http("GET", "/orders/1", headers(proof("POST"))).reasons == ["dpop_proof_invalid"]
    bearer = authz.authorize_http("GET", "/orders/1", [("authorization", f"Bearer {t}")])
    assert bearer.reasons == ["dpop_scheme_required"]


def test_http_answer_and_mode_override(authz):
    d = authz.authorize(None, method="GET", path="/orders/1")
    a = d.http_answer("api")
    assert (a["proceed"], a["status"]) == (False, 401)
    assert dict(a["headers"])["www-authenticate"] == 'Bearer realm="api"'
    assert json.loads(a["body"])["reasons"] == ["token_missing"]
    w = d.http_answer("api", "warn")
    assert w == {"proceed": True, "status": 200, "headers": [("x-zt-would-deny", "token_missing")], "body": None}
    assert d.http_answer(mode="log_only")["headers"] == []
    with pytest.raises(ValueError, match="mode"):
        d.http_answer(mode="lenient")


def test_eight_threads_times_ten_thousand_agree_with_one_thread(authz):
    tokens = [mint(sub=f"user-{i}") for i in range(4)] + [None, "not-a-token"]
    shapes = [("GET", "/orders/1"), ("POST", "/orders"), ("GET", "/admin"), ("GET", "/other")]
    requests = [(t, m, p) for t in tokens for (m, p) in shapes]
    expected = [(authz.authorize(t, method=m, path=p).outcome) for (t, m, p) in requests]
    rounds = 10_000 // len(requests) + 1
    failures = []

    def run():
        for _ in range(rounds):
            got = [authz.authorize(t, method=m, path=p).outcome for (t, m, p) in requests]
            if got != expected:
                failures.append(got)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not failures
    assert authz.metrics()["decisions"] == len(requests) * (1 + 8 * rounds)


# Arbitrary values: anything JSON-like, and things that are not.
json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
anything = json_like | st.binary(max_size=16) | st.builds(object) | st.tuples(st.text(), st.integers())
headers = st.one_of(
    st.none(),
    st.dictionaries(st.text(max_size=12), st.text(max_size=24), max_size=4),
    st.lists(st.tuples(st.text(max_size=12) | st.binary(max_size=12), st.text(max_size=24) | st.binary(max_size=24)), max_size=4),
    anything,
)
SHARED = zt.Authorizer.from_dict(config(request={"headers": ["x-tenant"]}), policy_files={"a.rego": POLICY})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    token=st.none() | st.text(max_size=64) | anything,
    method=st.text(max_size=8) | anything,
    path=st.text(max_size=32) | anything,
    host=st.none() | st.text(max_size=16) | anything,
    hdrs=headers,
    device=st.none() | json_like | anything,
    resource=st.none() | st.dictionaries(st.text(max_size=8), json_like, max_size=3) | anything,
)
def test_arbitrary_request_values_raise_only_type_error(token, method, path, host, hdrs, device, resource):
    try:
        d = SHARED.authorize(token, method=method, path=path, host=host, headers=hdrs, device=device, resource=resource)
    except TypeError:
        return
    # No valid token can come out of random values: never an allow.
    assert d.outcome in ("deny", "step_up") and not d.allowed
    json.loads(d.to_json())


@settings(max_examples=300, deadline=None)
@given(
    method=st.text(max_size=8),
    target=st.text(max_size=40),
    raw=st.lists(st.tuples(st.binary(max_size=16), st.binary(max_size=64)), max_size=6),
    client=st.none() | st.text(max_size=20),
)
def test_arbitrary_http_requests_are_decided_never_raised(method, target, raw, client):
    d = SHARED.authorize_http(method, target, raw, client=client)
    assert not d.allowed
    assert d.http_answer()["status"] in (401, 403, 500, 503)


def test_opaque_tokens_through_introspection():
    """An RFC 7662 endpoint on 127.0.0.1 (stdlib HTTP server in a thread, stopped at the end):
    `authorize` answers `introspection_pending` then decides from the background lookup,
    `authorize_async` awaits the one call, and `status()` shows the counters."""
    import asyncio
    import base64
    import http.server
    import urllib.parse

    import zt

    now = int(time.time())
    calls = []

    class Introspect(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["content-length"])).decode())
            calls.append(form["token"][0])
            user, _, secret = base64.b64decode(self.headers["authorization"][6:]).decode().partition(":")
            ok = user == "orders" and urllib.parse.unquote_plus(secret) == os.environ["PATH"]
            token = form["token"][0]
            body = {"active": False}
            if ok and token.startswith("opaque-"):
                body = {"active": True, "sub": token[len("opaque-"):], "aud": "api", "iat": now, "exp": now + 600,
                        "token_type": "Bearer"}
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Introspect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        cfg = config()
        cfg["issuers"][0]["introspection"] = {
            "endpoint": f"http://127.0.0.1:{server.server_address[1]}/introspect",
            "client_id": "orders",
            "client_secret_env": "PATH",
        }
        a = zt.Authorizer.from_dict(cfg, policy_files={"authz.rego": POLICY})
        assert a.authorize("opaque-alice", method="GET", path="/orders/1").reasons == ["introspection_pending"]
        deadline = time.time() + 10
        while True:
            d = a.authorize("opaque-alice", method="GET", path="/orders/1")
            if d.allowed:
                break
            assert d.reasons == ["introspection_pending"] and time.time() < deadline, d.reasons
            time.sleep(0.02)
        assert d.claims["sub"] == "alice"
        d = asyncio.run(a.authorize_async("opaque-bob", method="GET", path="/orders/1"))
        assert d.allowed and d.claims["sub"] == "bob"
        assert asyncio.run(a.authorize_async("unknown", method="GET", path="/orders/1")).reasons == ["token_inactive"]
        assert calls == ["opaque-alice", "opaque-bob", "unknown"]
        stats = a.status()["introspection"]
        assert (stats["calls"], stats["failures"], stats["circuit_open"]) == (3, 0, False)
        # A JWT is still verified locally.
        assert a.authorize(mint(), method="GET", path="/orders/1").allowed
        assert len(calls) == 3
        a.close()
    finally:
        server.shutdown()
        server.server_close()


def test_dpop_and_certificate_bound_tokens_through_the_direct_api(authz, tmp_path):
    """`authorize(..., dpop_proof=...)` presents the token with the DPoP scheme;
    `client_certificate=` (DER bytes) checks a certificate-bound token (RFC 8705)."""
    import hashlib
    import base64

    kit = lambda *args: subprocess.run([testkit(), *args], check=True, capture_output=True, text=True, timeout=30).stdout.strip()
    t = mint(cnf={"jkt": kit("jkt", "--key", "ec-p384")})
    proof = lambda method: kit("dpop-proof", "--key", "ec-p384", "--alg", "ES384", "--htm", method,
                               "--htu", "https://api.example.com/orders/1", "--token", t)
    d = authz.authorize(t, method="GET", path="/orders/1", host="api.example.com", dpop_proof=proof("GET"))
    assert d.allowed, d.reasons
    assert authz.authorize(t, method="GET", path="/orders/1", host="api.example.com").reasons == ["dpop_scheme_required"]
    assert authz.authorize(t, method="GET", path="/orders/1", host="api.example.com",
                           dpop_proof=proof("POST")).reasons == ["dpop_proof_invalid"]

    der = b"\x30\x03\x02\x01\x07"  # any bytes: zt compares the SHA-256 of the DER it is given
    x5t = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    bound = mint(cnf={"x5t#S256": x5t})
    assert authz.authorize(bound, method="GET", path="/orders/1", client_certificate=der).allowed
    assert authz.authorize(bound, method="GET", path="/orders/1").reasons == ["certificate_binding_mismatch"]
    assert authz.authorize(bound, method="GET", path="/orders/1",
                           client_certificate=b"other").reasons == ["certificate_binding_mismatch"]
    headers = [("authorization", f"Bearer {bound}")]
    assert authz.authorize_http("GET", "/orders/1", headers, client_certificate=der).allowed
    assert authz.authorize_http("GET", "/orders/1", headers).reasons == ["certificate_binding_mismatch"]
    with pytest.raises(TypeError, match="client_certificate"):
        authz.authorize(bound, method="GET", path="/orders/1", client_certificate="not bytes")
    # The ASGI/WSGI helpers turn a PEM certificate into DER, and anything else into None.
    from zt._http import pem_to_der
    pem = "-----BEGIN CERTIFICATE-----\n" + base64.b64encode(der).decode() + "\n-----END CERTIFICATE-----\n"
    assert pem_to_der(pem) == der
    assert pem_to_der("garbage") is None and pem_to_der(None) is None
