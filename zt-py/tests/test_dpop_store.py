"""The shared DPoP replay store from Python: two authorizers sharing a real redis-server on
127.0.0.1 refuse each other's replays, and `authorize` releases the GIL while it waits."""

import os
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

import conftest
from conftest import POLICY, config, mint

URL = "https://api.example.com/orders/1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_url():
    port = free_port()
    p = subprocess.Popen(
        ["timeout", "120", "redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
         "--appendonly", "no", "--dir", tempfile.gettempdir()],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            p.kill()
            pytest.fail("redis-server did not start (the test command installs it)")
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    os.kill(p.pid, signal.SIGTERM)
    p.wait(5)


def kit(*args) -> str:
    return subprocess.run([conftest.testkit(), *args], check=True, capture_output=True, text=True, timeout=30).stdout.strip()


def bound_token_and_proofs():
    t = mint(cnf={"jkt": kit("jkt", "--key", "ec-p384")})

    def proof() -> str:
        return kit("dpop-proof", "--key", "ec-p384", "--alg", "ES384", "--htm", "GET", "--htu", URL, "--token", t)

    return t, proof


def store_authz(store: dict):
    import zt

    return zt.Authorizer.from_dict(config(dpop={"replay_store": store}), policy_files={"authz.rego": POLICY})


def test_two_authorizers_sharing_redis_refuse_each_others_replays(redis_url):
    a = store_authz({"url": redis_url, "prefix": "zt:py:"})
    b = store_authz({"url": redis_url, "prefix": "zt:py:"})
    try:
        t, proof = bound_token_and_proofs()
        p = proof()
        ask = lambda authz, p: authz.authorize(t, method="GET", path="/orders/1", host="api.example.com", dpop_proof=p)
        assert ask(a, p).allowed
        assert ask(b, p).reasons == ["dpop_replayed"]
        q = proof()
        assert ask(b, q).allowed
        assert ask(a, q).reasons == ["dpop_replayed"]
        s = a.status()["dpop_replay_store"]
        assert (s["fresh"], s["replayed"], s["up"]) == (1, 1, True)
    finally:
        a.close()
        b.close()


def test_authorize_releases_the_gil_while_it_waits_for_the_store():
    # A "Redis" that accepts and never answers: each DPoP request waits the full timeout.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held = []
    threading.Thread(target=lambda: [held.append(listener.accept()) for _ in range(8)], daemon=True).start()
    a = store_authz({"url": f"redis://127.0.0.1:{listener.getsockname()[1]}/0", "timeout_ms": 300})
    try:
        t, proof = bound_token_and_proofs()
        p = proof()
        ticks = []
        stop = threading.Event()

        def count():
            while not stop.is_set():
                ticks.append(1)
                time.sleep(0.001)

        counter = threading.Thread(target=count)
        counter.start()
        time.sleep(0.05)
        before = len(ticks)
        d = a.authorize(t, method="GET", path="/orders/1", host="api.example.com", dpop_proof=p)
        during = len(ticks) - before
        stop.set()
        counter.join()
        assert d.reasons == ["dpop_replay_store_unavailable"]
        # Held for 300 ms, the GIL would have stopped the counter; released, it kept counting.
        assert during > 20, during
        assert a.status()["dpop_replay_store"]["up"] is False
    finally:
        a.close()
        listener.close()
