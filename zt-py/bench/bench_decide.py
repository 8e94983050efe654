"""Per-decision cost of the `zt` Python module next to the Python libraries people use instead.

Run from the repository root (see README.md in this directory for the setup):

    target/py-bench-venv/bin/python zt-py/bench/bench_decide.py [--quick]

Everything runs in one process, single-threaded, on the same tokens, the same request
(a developer on a healthy device doing ``GET /orders/42``, allowed by the sample bundle) and the
same policy (``examples/policies``, package ``zt.authz``). The token claims mirror the Rust bench
``benches/benches/authorize.rs`` (issuer ``https://idp.example.com``, audience ``orders-api``,
groups ``["dev"]``, scope ``orders:read``, a ``device`` posture claim), with the real clock
instead of a fixed one. Tokens are minted with the test kit binary (``zt-testkit mint``) with
the fixture keys ``rsa2048-a`` (RS256) and ``ec-p256`` (ES256).

Rows (all times are per call, from ``time.perf_counter_ns`` around each single call, with the
measured cost of timing an empty call subtracted):

zt (``zt.Authorizer.authorize(token, method="GET", path="/orders/42")``, config from a dict
with inline JWKS, decision log ``none``, posture from the ``device`` claim, like the Rust bench):
  - ``zt cached token``: the same token every call; the verified-token cache hits, so this is
    posture + input document + Rego policy + enforcement + metrics + the binding.
  - ``zt new RS256 token`` / ``zt new ES256 token``: the verified-token cache disabled
    (``token.cache_entries = 0``), so every call parses and verifies the signature, cycling
    through distinct tokens.
  - ``zt no token``: a request without a token (deny, ``token_missing``): the floor of a call
    through the binding, for reading where time goes.
  For every zt row the script also records ``decision.timings["total"]``, the nanoseconds
  spent inside zt-core's ``authorize_sync`` for that call; the difference between the Python
  per-call time and that total is the binding overhead (argument conversion, building the
  core ``Request``, wrapping and freeing the ``Decision``).

Token libraries alone (no policy):
  - ``PyJWT decode``: ``jwt.decode`` with the algorithm pinned and audience and issuer checked
    (``exp``/``iat`` checked by PyJWT's defaults), key prepared once from the public JWK.
  - ``joserfc decode + claims``: ``joserfc.jwt.decode`` plus ``JWTClaimsRegistry.validate`` for
    ``iss``, ``aud`` and ``exp``.

  - ``cryptography signature only``: the bare RSA / ECDSA verification with ``cryptography``
    (OpenSSL) on pre-split tokens, no parsing and no claim checks: the floor any Python JWT
    library pays, shown to tell signature cost from library overhead.

Token library + policy engine (what an application would assemble itself):
  - ``PyJWT + regopy``: PyJWT decode, then the input document zt builds (rebuilt in Python from
    the decoded claims by ``policy_input`` below; checked at start-up to be identical to the one
    zt logs), then the sample bundle evaluated by regopy. regopy is Microsoft's rego-cpp
    (a C++ Rego interpreter), not regorus (the engine inside zt): regorus has no wheel on PyPI.
    The bundle is compiled once (``Interpreter.build``) and each call sets the input and queries
    the compiled entrypoint.
  - ``regopy alone``: the same evaluation on a prebuilt input document.
  - ``PyJWT + cedarpy``: PyJWT decode, a Cedar request built from the claims, and ``authz.cedar``
    (this directory; the sample policy rewritten in Cedar, differences listed there and in
    README.md) evaluated with ``cedarpy.is_authorized`` on a pre-parsed ``PolicySet``.
  - ``cedarpy alone``: the same evaluation on a prebuilt request.
  - ``OPA (Go) alone`` / ``PyJWT RS256 + OPA (Go)``: the same bundle in OPA's own Go engine
    through ``opa-golib-python-bindings`` (a ctypes bridge to a Go c-shared library; its wheels
    declare Python >= 3.14 but install and run on 3.11 with ``--ignore-requires-python``):
    modules and data added once, ``eval_document("zt.authz.decision", input)`` per call.

A peer that cannot be imported is reported as "not installed"; a row whose first call does not
give the expected allow (or raises) is reported with the error, never stopping the script.
Rows run interleaved in several passes so slow drift of a shared machine hits every row alike.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import importlib
import importlib.metadata
import itertools
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time
from array import array
from typing import Any, Callable, Dict, List, Optional, Tuple

ROOT = pathlib.Path(__file__).resolve().parents[2]
KEYS_DIR = ROOT / "zt-core" / "tests" / "data" / "keys"
BUNDLE = ROOT / "examples" / "policies"
CEDAR_POLICY = pathlib.Path(__file__).resolve().parent / "authz.cedar"
ISS = "https://idp.example.com"  # zt_testkit::ISS
AUD = "orders-api"  # zt_testkit::AUD
METHOD, PATH = "GET", "/orders/42"
ENTRYPOINT = "zt/authz/decision"  # data.zt.authz.decision, in rego-cpp's entrypoint syntax
POSTURE_MAX_AGE_S = 900  # zt's default posture.max_age_s
POSTURE_FUTURE_SKEW_S = 60
# zt refuses tokens living longer than issuers[].max_token_age_s (default 24 h), so "exp far in
# the future" is 12 hours here.
TOKEN_LIFETIME_S = 12 * 3600
KEY_FOR_ALG = {"RS256": "rsa2048-a", "ES256": "ec-p256"}


# --------------------------------------------------------------------------------------------
# Tokens and keys
# --------------------------------------------------------------------------------------------


def claims(i: int, now: int) -> Dict[str, Any]:
    """The claims of benches/benches/authorize.rs, with the real clock."""
    return {
        "iss": ISS,
        "sub": f"user-{i}",
        "aud": AUD,
        "iat": now,
        "exp": now + TOKEN_LIFETIME_S,
        "groups": ["dev"],
        "scope": "orders:read",
        "device": {
            "id": "d1",
            "managed": True,
            "disk_encrypted": True,
            "jailbroken": False,
            "patch_age_days": 3,
            "assessed_at": now - 60,
        },
    }


def testkit_path() -> pathlib.Path:
    return pathlib.Path(os.environ.get("ZT_TESTKIT", ROOT / "target" / "debug" / "zt-testkit"))


def mint(alg: str, count: int) -> List[str]:
    """`count` distinct tokens (different `sub`) signed with the fixture key for `alg`."""
    now = int(time.time())
    tokens = []
    for i in range(count):
        out = subprocess.run(
            [str(testkit_path()), "mint", "--key", KEY_FOR_ALG[alg], "--alg", alg,
             "--claims", json.dumps(claims(i, now))],
            check=True, capture_output=True, text=True, timeout=60,
        )
        tokens.append(out.stdout.strip())
    return tokens


def jwk(name: str) -> Dict[str, Any]:
    return json.loads((KEYS_DIR / f"{name}.jwk.json").read_text())


# --------------------------------------------------------------------------------------------
# The policy input document, rebuilt in Python (for the baselines that assemble it themselves)
# --------------------------------------------------------------------------------------------

_DEVICE_STR = ("id", "os", "os_version")
_DEVICE_BOOL = ("disk_encrypted", "firewall_enabled", "edr_running", "screen_lock_enabled",
                "jailbroken")


def _strings(value: Any, split: bool, out: List[str]) -> None:
    """Strings from a list claim or a string claim (split on spaces), deduplicated, in order."""
    if isinstance(value, str):
        items = value.split(" ") if split else [value]
    elif isinstance(value, list):
        items = [v for v in value if isinstance(v, str)]
    else:
        items = []
    for s in items:
        if s and s not in out:
            out.append(s)


def device_from_claims(c: Dict[str, Any], now: int) -> Optional[Dict[str, Any]]:
    """zt's `input.device` from the `device` claim; None when missing or stale.

    Simpler than zt: no type validation of the posture fields (zt answers `posture_invalid`).
    """
    raw = c.get("device")
    if not isinstance(raw, dict):
        return None
    assessed_at = raw.get("assessed_at") or c.get("iat") or 0
    if assessed_at > now + POSTURE_FUTURE_SKEW_S or now - assessed_at > POSTURE_MAX_AGE_S:
        return None
    modelled = set(_DEVICE_STR + _DEVICE_BOOL + ("managed", "patch_age_days", "assessed_at",
                                                 "age_s", "source", "extra"))
    extra = {k: v for k, v in raw.items() if k not in modelled}
    extra.update(raw.get("extra") or {})
    device = {k: raw.get(k) for k in _DEVICE_STR}
    device.update({k: raw.get(k) for k in _DEVICE_BOOL})
    device.update(
        managed=bool(raw.get("managed", False)),
        patch_age_days=raw.get("patch_age_days"),
        assessed_at=assessed_at,
        age_s=max(0, now - assessed_at),
        source="claims",
        extra=extra,
    )
    return device


def policy_input(c: Dict[str, Any], method: str, path: str, now: int) -> Dict[str, Any]:
    """The document zt passes to the policy (README "policy input"), from verified claims."""
    groups: List[str] = []
    _strings(c.get("groups"), False, groups)
    roles: List[str] = []
    _strings(c.get("roles"), False, roles)
    realm = c.get("realm_access")
    _strings(realm.get("roles") if isinstance(realm, dict) else None, False, roles)
    scopes: List[str] = []
    _strings(c.get("scope"), True, scopes)
    _strings(c.get("scp"), True, scopes)
    amr: List[str] = []
    _strings(c.get("amr"), False, amr)
    aud = c.get("aud")
    acr = c.get("acr")
    auth_time = c.get("auth_time")
    return {
        "subject": {
            "id": c.get("sub"),
            "issuer": c.get("iss"),
            "audience": [aud] if isinstance(aud, str) else list(aud or []),
            "groups": groups,
            "roles": roles,
            "scopes": scopes,
            "acr": acr if isinstance(acr, str) else None,
            "amr": amr,
            "auth_time": auth_time if isinstance(auth_time, int) and auth_time >= 0 else None,
            "claims": c,
        },
        "request": {
            "method": method,
            "path": path,
            "segments": [s for s in path.split("/") if s],
            "host": None,
            "headers": {},
            "source_ip": None,
        },
        "device": device_from_claims(c, now),
        "workload": {"spiffe_id": None},
        "resource": {},
        "context": {"now": now, "service": None},
    }


def zt_logged_input(zt: Any, token: str) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """zt's own input document and policy result for one request, read from a file decision log.

    The Python API has no call returning the input; the decision log record carries it.
    """
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "decisions.jsonl")
        cfg = zt_config(cache_entries=0)
        cfg["decision_log"] = {"sink": "file", "path": log, "mask": []}
        authz = zt.Authorizer.from_dict(cfg)
        authz.authorize(token, method=METHOD, path=PATH)
        authz.close()
        with open(log, encoding="utf-8") as f:
            record = json.loads(f.readline())
    return record["input"], record["result"]


# --------------------------------------------------------------------------------------------
# Peers
# --------------------------------------------------------------------------------------------

PEERS = {  # import name -> distribution name
    "zt": "zt",
    "jwt": "PyJWT",
    "joserfc": "joserfc",
    "regopy": "regopy",
    "cedarpy": "cedarpy",
    "opa_bindings": "opa-golib-python-bindings",
}
OPA_GOLIB = "opa-golib-python-bindings"


def load_peers() -> Tuple[Dict[str, Any], Dict[str, str]]:
    """Import every peer that is there; versions (or why not) by distribution name."""
    modules: Dict[str, Any] = {}
    versions: Dict[str, str] = {}
    for module, dist in PEERS.items():
        try:
            modules[module] = importlib.import_module(module)
            versions[dist] = importlib.metadata.version(dist)
        except Exception as e:  # noqa: BLE001 - any import failure means "not installed"
            versions[dist] = f"not installed ({type(e).__name__}: {e})"
    for dist in ("cryptography",):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    if "opa_bindings" not in modules:
        versions[OPA_GOLIB] += " (pip install --ignore-requires-python opa-golib-python-bindings)"
    if "regopy" in modules:
        versions["regopy"] += f" (rego-cpp {modules['regopy'].__version__})"
    return modules, versions


def zt_config(cache_entries: int) -> Dict[str, Any]:
    """The Rust bench's configuration, as a dict."""
    return {
        "issuers": [{
            "issuer": ISS,
            "audiences": [AUD],
            "algorithms": ["RS256", "ES256"],
            "jwks": {"keys": [jwk("rsa2048-a"), jwk("ec-p256")]},
        }],
        "token": {"cache_entries": cache_entries},
        "policy": {"bundle": str(BUNDLE)},
        "decision_log": {"sink": "none"},
    }


def pyjwt_key(jwt: Any, alg: str) -> Any:
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm

    algorithm = RSAAlgorithm if alg.startswith("RS") else ECAlgorithm
    return algorithm.from_jwk(json.dumps(jwk(KEY_FOR_ALG[alg])))


def pyjwt_decoder(jwt: Any, alg: str) -> Callable[[str], Dict[str, Any]]:
    key, decode, algs = pyjwt_key(jwt, alg), jwt.decode, [alg]
    return lambda token: decode(token, key, algorithms=algs, audience=AUD, issuer=ISS)


def joserfc_decoder(joserfc: Any, alg: str) -> Callable[[str], Dict[str, Any]]:
    from joserfc import jwt
    from joserfc.jwk import ECKey, RSAKey

    key_type = RSAKey if alg.startswith("RS") else ECKey
    key = key_type.import_key(jwk(KEY_FOR_ALG[alg]))
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISS},
        aud={"essential": True, "value": AUD},
        exp={"essential": True},
    )
    decode, validate, algs = jwt.decode, registry.validate, [alg]

    def run(token: str) -> Dict[str, Any]:
        claims_ = decode(token, key, algorithms=algs).claims
        validate(claims_)
        return claims_

    return run


def signature_verifier(alg: str, tokens: List[str]) -> Callable[[], None]:
    """The bare signature check with `cryptography` (OpenSSL) on pre-split tokens: the floor
    every Python JWT library pays for the signature, before any parsing or claim check."""
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    def b64(s: str) -> bytes:
        return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

    k = jwk(KEY_FOR_ALG[alg])
    as_int = lambda s: int.from_bytes(b64(s), "big")  # noqa: E731
    parts = [t.rsplit(".", 1) for t in tokens]
    if alg == "RS256":
        key = rsa.RSAPublicNumbers(as_int(k["e"]), as_int(k["n"])).public_key()
        signed = [(b64(sig), head.encode()) for head, sig in parts]
        pad, sha = padding.PKCS1v15(), hashes.SHA256()
        nxt = itertools.cycle(signed).__next__

        def run() -> None:
            sig, msg = nxt()
            key.verify(sig, msg, pad, sha)
    else:
        key = ec.EllipticCurvePublicNumbers(as_int(k["x"]), as_int(k["y"]),
                                            ec.SECP256R1()).public_key()
        signed = []
        for head, sig in parts:
            raw = b64(sig)  # JOSE r || s -> DER for cryptography
            der = encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                       int.from_bytes(raw[32:], "big"))
            signed.append((der, head.encode()))
        ecdsa = ec.ECDSA(hashes.SHA256())
        nxt = itertools.cycle(signed).__next__

        def run() -> None:
            sig, msg = nxt()
            key.verify(sig, msg, ecdsa)

    return run


class RegoCpp:
    """The sample bundle compiled once by rego-cpp (regopy); one interpreter, one thread."""

    def __init__(self, regopy: Any) -> None:
        builder = regopy.Interpreter()
        for rego in sorted(BUNDLE.rglob("*.rego")):
            if not rego.name.endswith("_test.rego"):
                builder.add_module(str(rego.relative_to(BUNDLE)), rego.read_text())
        data = json.loads((BUNDLE / "zt" / "config" / "data.json").read_text())
        builder.add_data({"zt": {"config": data}})
        self.bundle = builder.build(None, [ENTRYPOINT])
        if not self.bundle.ok():
            raise RuntimeError("rego-cpp could not build the bundle")
        self.interpreter = regopy.Interpreter()
        self.input_type = regopy.Input

    def evaluate(self, document: Dict[str, Any]) -> Dict[str, Any]:
        self.interpreter.set_input(self.input_type(document))
        output = self.interpreter.query_bundle_entrypoint(self.bundle, ENTRYPOINT)
        if not output.ok() or len(output) == 0:
            raise RuntimeError(f"rego-cpp: {output}")
        return output[0].expressions[0]


class OpaGo:
    """The sample bundle in OPA's Go engine (opa-golib-python-bindings), loaded once."""

    def __init__(self, opa: Any) -> None:
        self.engine = opa.OpaEngine()
        for rego in sorted(BUNDLE.rglob("*.rego")):
            if not rego.name.endswith("_test.rego"):
                self.engine.add_policy(str(rego.relative_to(BUNDLE)), rego.read_text())
        data = json.loads((BUNDLE / "zt" / "config" / "data.json").read_text())
        self.engine.add_data({"zt": {"config": data}})

    def evaluate(self, document: Dict[str, Any]) -> Dict[str, Any]:
        return self.engine.eval_document("zt.authz.decision", document)


class Cedar:
    """authz.cedar parsed once; requests built from verified claims."""

    def __init__(self, cedarpy: Any) -> None:
        self.policies = cedarpy.PolicySet.from_str(CEDAR_POLICY.read_text())
        self.entities = cedarpy.Entities.from_json_str("[]")
        self.is_authorized = cedarpy.is_authorized

    @staticmethod
    def request(c: Dict[str, Any], method: str, path: str, now: int) -> Dict[str, Any]:
        groups: List[str] = []
        _strings(c.get("groups"), False, groups)
        amr: List[str] = []
        _strings(c.get("amr"), False, amr)
        context: Dict[str, Any] = {"path": path, "groups": groups, "amr": amr, "now": now}
        device = device_from_claims(c, now)
        if device is not None:  # Cedar has no null: absent attributes instead
            context["device"] = {
                "managed": device["managed"],
                "disk_encrypted": device["disk_encrypted"] is True,
                "jailbroken": device["jailbroken"] is True,
                **({"patch_age_days": device["patch_age_days"]}
                   if isinstance(device["patch_age_days"], int) else {}),
            }
        if isinstance(c.get("auth_time"), int):
            context["auth_time"] = c["auth_time"]
        return {
            "principal": {"type": "User", "id": str(c.get("sub"))},
            "action": {"type": "Action", "id": method},
            "resource": {"type": "Path", "id": path},
            "context": context,
        }

    def decide(self, request: Dict[str, Any]) -> bool:
        return self.is_authorized(request, self.policies, self.entities).allowed


# --------------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Row:
    """One measured row: `fn` makes one call; `check(result)` raises unless it is the allow."""

    name: str
    fn: Optional[Callable[[], Any]] = None
    check: Optional[Callable[[Any], None]] = None
    zt: bool = False  # fn returns a zt Decision: also record decision.timings
    compare_with: Optional[str] = None  # the zt row this peer row is compared with
    status: str = ""  # "not installed", or an error; empty when measured
    samples: array = dataclasses.field(default_factory=lambda: array("q"))
    core_total: array = dataclasses.field(default_factory=lambda: array("q"))
    paired: array = dataclasses.field(default_factory=lambda: array("q"))
    stages: List[Dict[str, int]] = dataclasses.field(default_factory=list)


def percentile(sorted_values: List[int], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    return float(sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))])


def time_calls(fn: Callable[[], Any], n: int) -> array:
    """Per-call nanoseconds of `n` calls of `fn`."""
    pc = time.perf_counter_ns
    out = array("q", bytes(8 * n))
    for i in range(n):
        t0 = pc()
        fn()
        t1 = pc()
        out[i] = t1 - t0
    return out


def time_zt_calls(fn: Callable[[], Any], n: int, row: Row) -> array:
    """Like `time_calls`, and records each decision's zt-core total (read outside the timing)."""
    pc = time.perf_counter_ns
    out = array("q", bytes(8 * n))
    totals = array("q", bytes(8 * n))
    d = None
    for i in range(n):
        t0 = pc()
        d = fn()  # also frees the previous Decision, as a caller's loop would
        t1 = pc()
        out[i] = t1 - t0
        timings = d.timings
        totals[i] = timings["total"]
        if not i & 15:
            row.stages.append(timings)
    row.core_total.extend(totals)
    if d is not None and row.check is not None:
        row.check(d)  # still the allow at the end (posture not stale, tokens not expired)
    return out


def calibrate(n: int) -> int:
    """Median cost of timing an empty call through `time_calls` (subtracted from every row)."""
    empty = lambda: None  # noqa: E731
    time_calls(empty, n)
    return int(sorted(time_calls(empty, n))[n // 2])


def binding_overhead(zt: Any, token: str, rounds: int, batch: int = 500) -> Dict[str, float]:
    """Python ``authorize`` against Rust ``authorize_sync`` on the same input, whole calls:
    alternating batches of ``batch`` calls from a Python loop (the empty loop's cost taken
    out) and ``batch`` calls inside Rust (``_authorize_sync_loop``, a bench hook that builds
    the request once and calls ``authorize_sync`` in a loop). Medians of per-call means, ns."""
    authz = zt.Authorizer.from_dict(zt_config(cache_entries=10_000))
    f, loop, pc = authz.authorize, authz._authorize_sync_loop, time.perf_counter_ns
    py, rust, empty = [], [], []
    for _ in range(rounds):
        t0 = pc()
        for _ in range(batch):
            pass
        empty.append((pc() - t0) / batch)
        t0 = pc()
        for _ in range(batch):
            f(token, method=METHOD, path=PATH)
        py.append((pc() - t0) / batch)
        rust.append(loop(batch, token, method=METHOD, path=PATH) / batch)
    med = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    return {"python": med(py) - med(empty), "rust": med(rust)}


def run_rows(rows: List[Row], seconds_per_row: float, passes: int, overhead_ns: int) -> None:
    live = []
    for row in rows:
        if row.status:
            continue
        try:
            result = row.fn()
            if row.check is not None:
                row.check(result)
            # Warm-up (~0.2 s) also estimates the cost of one call.
            t0 = time.perf_counter()
            warm = 0
            while time.perf_counter() - t0 < 0.2 or warm < 20:
                row.fn()
                warm += 1
            per_call = (time.perf_counter() - t0) / warm
            calls = int(min(200_000, max(300, seconds_per_row / passes / per_call)))
            live.append((row, calls))
        except Exception as e:  # noqa: BLE001 - report, never crash
            row.status = f"error: {type(e).__name__}: {e}"
    for _ in range(passes):
        for row, calls in live:
            if row.status:
                continue
            gc.collect()
            try:
                if row.zt:
                    start = len(row.core_total)
                    got = time_zt_calls(row.fn, calls, row)
                    for i, total in enumerate(row.core_total[start:]):
                        row.paired.append(got[i] - overhead_ns - total)
                else:
                    got = time_calls(row.fn, calls)
                row.samples.extend(max(0, s - overhead_ns) for s in got)
            except Exception as e:  # noqa: BLE001
                row.status = f"error: {type(e).__name__}: {e}"


def median_us(values: array) -> float:
    return percentile(sorted(values), 0.5) / 1000.0


def p99_us(values: array) -> float:
    return percentile(sorted(values), 0.99) / 1000.0


# --------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------


def expect_zt_allow(d: Any) -> None:
    if not d.allowed or d.policy_reasons != ["rbac_granted"]:
        raise RuntimeError(f"zt did not allow: {d.outcome} {d.reasons} {d.policy_reasons}")


def expect_claims(c: Dict[str, Any]) -> None:
    if not str(c.get("sub", "")).startswith("user-"):
        raise RuntimeError(f"unexpected claims {c}")


def expect_allow(result: Any) -> None:
    allowed = result.get("allow") if isinstance(result, dict) else result
    if allowed is not True:
        raise RuntimeError(f"expected an allow, got {result!r}")


def build_rows(mods: Dict[str, Any], tokens: Dict[str, List[str]]) -> Tuple[List[Row], str]:
    """Every row, ready to run (or marked not installed). Also: the input-document check."""
    rows: List[Row] = []
    cycle = {alg: itertools.cycle(toks).__next__ for alg, toks in tokens.items()}
    first = tokens["RS256"][0]
    input_check = "not checked (zt not installed)"

    zt = mods.get("zt")
    names = ["zt cached token", "zt new RS256 token", "zt new ES256 token", "zt no token (floor)"]
    if zt is None:
        rows += [Row(n, status="not installed") for n in names]
    else:
        cached = zt.Authorizer.from_dict(zt_config(cache_entries=10_000)).authorize
        fresh = zt.Authorizer.from_dict(zt_config(cache_entries=0)).authorize
        nrs, nes = cycle["RS256"], cycle["ES256"]
        rows += [
            Row(names[0], lambda: cached(first, method=METHOD, path=PATH), expect_zt_allow, zt=True),
            Row(names[1], lambda: fresh(nrs(), method=METHOD, path=PATH), expect_zt_allow, zt=True),
            Row(names[2], lambda: fresh(nes(), method=METHOD, path=PATH), expect_zt_allow, zt=True),
            Row(names[3], lambda: cached(None, method=METHOD, path=PATH), zt=True),
        ]
        try:
            logged, result = zt_logged_input(zt, first)
            mine = policy_input(dict(logged["subject"]["claims"]), METHOD, PATH,
                                logged["context"]["now"])
            input_check = ("identical to zt's (from its decision log)" if mine == logged
                           else "DIFFERS from zt's: " + ", ".join(
                               k for k in logged if logged[k] != mine.get(k)))
            input_check += f"; zt's policy result: {json.dumps(result, sort_keys=True)}"
        except Exception as e:  # noqa: BLE001
            input_check = f"not checked ({type(e).__name__}: {e})"

    jwt = mods.get("jwt")
    decoders: Dict[str, Callable[[str], Dict[str, Any]]] = {}
    for alg in ("RS256", "ES256"):
        name = f"PyJWT {alg} decode"
        if jwt is None:
            rows.append(Row(name, status="not installed"))
            continue
        decoders[alg] = dec = pyjwt_decoder(jwt, alg)
        nxt = cycle[alg]
        rows.append(Row(name, lambda d=dec, n=nxt: d(n()), expect_claims,
                        compare_with=f"zt new {alg} token"))
    for alg in ("RS256", "ES256"):
        name = f"joserfc {alg} decode + claims"
        if "joserfc" not in mods:
            rows.append(Row(name, status="not installed"))
            continue
        dec = joserfc_decoder(mods["joserfc"], alg)
        rows.append(Row(name, lambda d=dec, n=cycle[alg]: d(n()), expect_claims,
                        compare_with=f"zt new {alg} token"))

    for alg in ("RS256", "ES256"):
        name = f"cryptography {alg} signature only"
        try:
            rows.append(Row(name, signature_verifier(alg, tokens[alg]),
                            compare_with=f"zt new {alg} token"))
        except ImportError:
            rows.append(Row(name, status="not installed"))

    now = int(time.time())
    sample_claims = pyjwt_decoder(jwt, "RS256")(first) if jwt else claims(0, now)
    clock = time.time

    if "regopy" not in mods:
        rows.append(Row("regopy alone (prebuilt input)", status="not installed"))
        for alg in ("RS256", "ES256"):
            rows.append(Row(f"PyJWT {alg} + regopy", status="not installed"))
    else:
        try:
            engine = RegoCpp(mods["regopy"])
            document = policy_input(sample_claims, METHOD, PATH, now)
            rows.append(Row("regopy alone (prebuilt input)", lambda: engine.evaluate(document),
                            expect_allow, compare_with="zt cached token"))
            for alg in ("RS256", "ES256"):
                name = f"PyJWT {alg} + regopy"
                if alg not in decoders:
                    rows.append(Row(name, status="not installed (PyJWT)"))
                    continue

                def jwt_rego(d=decoders[alg], n=cycle[alg]) -> Dict[str, Any]:
                    c = d(n())
                    return engine.evaluate(policy_input(c, METHOD, PATH, int(clock())))

                rows.append(Row(name, jwt_rego, expect_allow, compare_with=f"zt new {alg} token"))
        except Exception as e:  # noqa: BLE001
            rows.append(Row("regopy", status=f"error: {type(e).__name__}: {e}"))

    if "cedarpy" not in mods:
        rows.append(Row("cedarpy alone (prebuilt request)", status="not installed"))
        rows.append(Row("PyJWT RS256 + cedarpy", status="not installed"))
    else:
        try:
            cedar = Cedar(mods["cedarpy"])
            request = Cedar.request(sample_claims, METHOD, PATH, now)
            rows.append(Row("cedarpy alone (prebuilt request)", lambda: cedar.decide(request),
                            expect_allow, compare_with="zt cached token"))
            if "RS256" in decoders:

                def jwt_cedar(d=decoders["RS256"], n=cycle["RS256"]) -> bool:
                    return cedar.decide(Cedar.request(d(n()), METHOD, PATH, int(clock())))

                rows.append(Row("PyJWT RS256 + cedarpy", jwt_cedar, expect_allow,
                                compare_with="zt new RS256 token"))
            else:
                rows.append(Row("PyJWT RS256 + cedarpy", status="not installed (PyJWT)"))
        except Exception as e:  # noqa: BLE001
            rows.append(Row("cedarpy", status=f"error: {type(e).__name__}: {e}"))

    if "opa_bindings" not in mods:
        rows.append(Row("OPA (Go) alone (prebuilt input)", status="not installed"))
        rows.append(Row("PyJWT RS256 + OPA (Go)", status="not installed"))
    else:
        try:
            opa = OpaGo(mods["opa_bindings"])
            document = policy_input(sample_claims, METHOD, PATH, now)
            rows.append(Row("OPA (Go) alone (prebuilt input)", lambda: opa.evaluate(document),
                            expect_allow, compare_with="zt cached token"))
            if "RS256" in decoders:

                def jwt_opa(d=decoders["RS256"], n=cycle["RS256"]) -> Dict[str, Any]:
                    return opa.evaluate(policy_input(d(n()), METHOD, PATH, int(clock())))

                rows.append(Row("PyJWT RS256 + OPA (Go)", jwt_opa, expect_allow,
                                compare_with="zt new RS256 token"))
        except Exception as e:  # noqa: BLE001
            rows.append(Row("OPA (Go)", status=f"error: {type(e).__name__}: {e}"))
    return rows, input_check


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def fmt(x: Optional[float], digits: int = 2) -> str:
    return "—" if x is None or x != x else f"{x:,.{digits}f}"


def machine_note(versions: Dict[str, str]) -> List[str]:
    cpu, cores = "unknown", 0
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name") and cpu == "unknown":
                    cpu = line.split(":", 1)[1].strip()
                if line.startswith("processor"):
                    cores += 1
    except OSError:
        pass
    try:
        with open("/proc/loadavg", encoding="utf-8") as f:
            load = " ".join(f.read().split()[:3])
    except OSError:
        load = "unknown"
    lines = [
        f"- CPU: {cpu}, {cores or os.cpu_count()} logical CPUs; load average at the end: {load}",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.release()}",
    ]
    lines += [f"- {dist}: {v}" for dist, v in versions.items()]
    return lines


def report(rows: List[Row], versions: Dict[str, str], meta: Dict[str, Any]) -> str:
    by_name = {r.name: r for r in rows}

    def med(name: str) -> Optional[float]:
        r = by_name.get(name)
        return median_us(r.samples) if r is not None and not r.status and r.samples else None

    out = [f"## zt Python bench ({meta['mode']}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
           "",
           "| row | median µs | p99 µs | calls | compared with | zt ÷ row |",
           "| --- | ---: | ---: | ---: | --- | ---: |"]
    for r in rows:
        if r.status or not r.samples:
            out.append(f"| {r.name} | {r.status or 'no samples'} | | | | |")
            continue
        ratio = "—"
        zt_med, mine = med(r.compare_with or ""), median_us(r.samples)
        if r.compare_with and zt_med is not None:
            ratio = f"{zt_med / mine:.2f}"
        out.append(f"| {r.name} | {fmt(mine)} | {fmt(p99_us(r.samples))} | {len(r.samples):,} "
                   f"| {r.compare_with or '—'} | {ratio} |")

    out += ["", "Binding overhead and zt-core stages (medians, µs; zt-core's own "
            "`decision.timings`, same calls):", "",
            "| zt row | Python per call | zt-core total | overhead (difference of medians) "
            "| overhead (median of per-call differences) | token | posture | input | policy |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        if not r.zt or r.status or not r.samples:
            continue
        stage = {k: percentile(sorted(s[k] for s in r.stages), 0.5) / 1000.0
                 for k in ("token", "posture", "input", "policy")} if r.stages else {}
        py, core = median_us(r.samples), median_us(r.core_total)
        out.append(f"| {r.name} | {fmt(py)} | {fmt(core)} | {fmt(py - core)} "
                   f"| {fmt(median_us(r.paired))} | " + " | ".join(
                       fmt(stage.get(k)) for k in ("token", "posture", "input", "policy")) + " |")

    def ratio(a: str, b: str) -> Optional[float]:
        x, y = med(a), med(b)
        return None if x is None or y is None else x / y

    whole = meta.get("binding")
    overhead = (whole["python"] - whole["rust"]) / 1000.0 if whole else None
    if whole:
        out += ["", "Binding overhead, whole calls on the same input (cached token; medians of "
                "per-call means over alternating 500-call batches):", "",
                "| Python `authorize` | Rust `authorize_sync` (same process, same request) | overhead |",
                "| ---: | ---: | ---: |",
                f"| {fmt(whole['python'] / 1000.0)} µs | {fmt(whole['rust'] / 1000.0)} µs "
                f"| {fmt(overhead)} µs |"]
    checks = [
        ("binding overhead: Python authorize − Rust authorize_sync (µs)", overhead, 2.0),
        ("zt new RS256 ÷ PyJWT RS256 decode", ratio("zt new RS256 token", "PyJWT RS256 decode"), 0.6),
        ("zt new ES256 ÷ PyJWT ES256 decode", ratio("zt new ES256 token", "PyJWT ES256 decode"), None),
        ("zt cached ÷ (PyJWT RS256 + regopy)", ratio("zt cached token", "PyJWT RS256 + regopy"), None),
        ("zt new RS256 ÷ (PyJWT RS256 + regopy)",
         ratio("zt new RS256 token", "PyJWT RS256 + regopy"), None),
        ("zt new ES256 ÷ (PyJWT ES256 + regopy)",
         ratio("zt new ES256 token", "PyJWT ES256 + regopy"), None),
        ("zt new RS256 ÷ joserfc RS256", ratio("zt new RS256 token", "joserfc RS256 decode + claims"),
         None),
        ("zt new ES256 ÷ joserfc ES256", ratio("zt new ES256 token", "joserfc ES256 decode + claims"),
         None),
        ("zt new RS256 ÷ cryptography RS256 signature only",
         ratio("zt new RS256 token", "cryptography RS256 signature only"), None),
        ("zt new ES256 ÷ cryptography ES256 signature only",
         ratio("zt new ES256 token", "cryptography ES256 signature only"), None),
        ("zt cached ÷ cedarpy alone", ratio("zt cached token", "cedarpy alone (prebuilt request)"),
         None),
        ("zt cached ÷ (PyJWT RS256 + cedarpy)", ratio("zt cached token", "PyJWT RS256 + cedarpy"),
         None),
        ("zt new RS256 ÷ (PyJWT RS256 + cedarpy)",
         ratio("zt new RS256 token", "PyJWT RS256 + cedarpy"), None),
        ("zt cached ÷ OPA (Go) alone", ratio("zt cached token", "OPA (Go) alone (prebuilt input)"),
         None),
        ("zt new RS256 ÷ (PyJWT RS256 + OPA (Go))",
         ratio("zt new RS256 token", "PyJWT RS256 + OPA (Go)"), None),
    ]
    out += ["", "| ratio (medians) | value | target | met? |", "| --- | ---: | ---: | --- |"]
    for name, value, target in checks:
        met = "—" if target is None or value is None else ("yes" if value <= target else "**no**")
        out.append(f"| {name} | {fmt(value)} | {'≤ ' + fmt(target, 1) if target else '—'} | {met} |")

    out += ["", "Notes:",
            f"- timing an empty call costs {meta['overhead_ns']} ns (median); subtracted from "
            "every sample",
            f"- {meta['tokens']} distinct tokens per algorithm; {meta['passes']} interleaved "
            f"pass(es), ~{meta['seconds']:.1f} s per row",
            f"- policy input rebuilt in Python for regopy: {meta['input_check']}",
            f"- run took {meta['elapsed']:.0f} s (minting {meta['mint_s']:.0f} s)", "",
            "Machine:"] + machine_note(versions)
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a short run (~20 s)")
    args = parser.parse_args()
    seconds, passes, n_tokens = (0.6, 1, 16) if args.quick else (3.0, 3, 64)

    started = time.perf_counter()
    mods, versions = load_peers()
    if not testkit_path().exists():
        print(f"zt-testkit not found at {testkit_path()}: run "
              "`cargo build --locked -p zt-testkit` (or set ZT_TESTKIT)", file=sys.stderr)
        return 2
    tokens = {alg: mint(alg, n_tokens) for alg in ("RS256", "ES256")}
    mint_s = time.perf_counter() - started

    rows, input_check = build_rows(mods, tokens)
    overhead_ns = calibrate(200_000)
    run_rows(rows, seconds, passes, overhead_ns)
    binding = None
    if mods.get("zt") is not None:
        binding = binding_overhead(mods["zt"], tokens["RS256"][0], rounds=40 if args.quick else 400)
    meta = {
        "binding": binding,
        "mode": "quick" if args.quick else "full",
        "overhead_ns": overhead_ns,
        "tokens": n_tokens,
        "passes": passes,
        "seconds": seconds,
        "input_check": input_check,
        "elapsed": time.perf_counter() - started,
        "mint_s": mint_s,
    }
    print(report(rows, versions, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
