"""Keys from a real JWKS + discovery server on 127.0.0.1 (zt-testkit serve-jwks): first fetch,
rotation through authorize_async while the event loop keeps serving, issuer down with cached
keys."""

import asyncio
import time

import zt
from conftest import POLICY, mint


def authorizer(issuer: str) -> zt.Authorizer:
    cfg = {
        "issuers": [{"issuer": issuer, "audiences": ["api"], "algorithms": ["ES256", "ES384", "EdDSA"], "discovery": True}],
        "jwks": {"unknown_kid_cooldown_s": 1, "timeout_ms": 2000},
        "decision_log": {"sink": "none"},
    }
    return zt.Authorizer.from_dict(cfg, policy_files={"authz.rego": POLICY})


def first_allow(a: zt.Authorizer, token: str, secs: float = 10) -> zt.Decision:
    """Keys are fetched in the background at start: decide until they arrived (bounded)."""
    deadline = time.monotonic() + secs
    while True:
        d = a.authorize(token, method="GET", path="/orders/1")
        if d.allowed or time.monotonic() > deadline:
            return d
        time.sleep(0.02)


def test_rotation_through_authorize_async_keeps_the_loop_serving(jwks_server):
    iss = jwks_server.info["issuer"]
    a = authorizer(iss)
    assert first_allow(a, mint(iss=iss)).allowed
    fetched = jwks_server.control("hits")["jwks"]
    assert fetched >= 1

    # The issuer rotates in a new key and answers slowly; a token signed by it arrives.
    assert jwks_server.control("keys ec-p256,ec-p384")["ok"]
    assert jwks_server.control("delay 600")["ok"]
    rotated = mint(iss=iss, kid_key="ec-p384")

    async def run():
        ticks = 0
        stop = asyncio.Event()

        async def ticker():
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        t = asyncio.create_task(ticker())
        started = time.monotonic()
        # Two concurrent callers share one refetch.
        d1, d2 = await asyncio.gather(
            a.authorize_async(rotated, method="GET", path="/orders/1"),
            a.authorize_async(rotated, method="GET", path="/orders/2"),
        )
        elapsed = time.monotonic() - started
        stop.set()
        await t
        return d1, d2, ticks, elapsed

    d1, d2, ticks, elapsed = asyncio.run(run())
    assert d1.allowed and d2.allowed, (d1, d2)
    assert elapsed >= 0.5  # it did wait for the slow issuer ...
    assert ticks >= 20  # ... while the loop kept running other tasks
    assert jwks_server.control("hits")["jwks"] == fetched + 1  # one refetch for both

    # Cached keys: authorize_async answers without any fetch.
    d = asyncio.run(a.authorize_async(rotated, method="GET", path="/orders/3"))
    assert d.allowed
    assert jwks_server.control("hits")["jwks"] == fetched + 1

    # The synchronous path never waits: a new unknown kid is a deny at once.
    unknown = mint(iss=iss, kid_key="ed25519")
    started = time.monotonic()
    d = a.authorize(unknown, method="GET", path="/orders/1")
    assert d.reasons == ["unknown_key"] and time.monotonic() - started < 0.5
    a.close()


def test_issuer_down_cached_keys_keep_answering(jwks_server):
    iss = jwks_server.info["issuer"]
    a = authorizer(iss)
    assert first_allow(a, mint(iss=iss)).allowed
    assert jwks_server.control("status 503")["ok"]
    assert a.authorize(mint(iss=iss, sub="erin"), method="GET", path="/orders/1").allowed
    jwks_server.stop()  # the issuer is gone altogether
    d = asyncio.run(a.authorize_async(mint(iss=iss, sub="finn"), method="GET", path="/orders/1"))
    assert d.allowed and d.claims["sub"] == "finn"
    status = a.metrics()
    assert status["decisions"] >= 3
    a.close()
