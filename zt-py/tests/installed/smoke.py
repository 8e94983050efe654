"""The installed wheel, as a user meets it: run by the test command in a fresh venv that holds
only the wheel, with no Rust toolchain on PATH. Not a pytest module (the full suite runs against
the same wheel in its own venv): it exits non-zero with a message on the first failure.

It decides an allowed and a denied request with an HS256 token made here with the standard
library, and imports every submodule (`zt.fastapi` needs FastAPI, which this venv does not
have: it must say so by name)."""

import base64
import hashlib
import hmac
import importlib
import json
import os
import shutil
import sys
import time

SECRET = "smoke-test-shared-secret-of-at-least-32-bytes"
CONFIG = """
service = "smoke"
[[issuers]]
issuer = "https://idp.example.com"
audiences = ["api"]
algorithms = ["HS256"]
hmac_secret_env = "ZT_SMOKE_SECRET"
[decision_log]
sink = "none"
"""
POLICY = """package zt.authz
import rego.v1
decision := {"allow": input.request.method == "GET"}
"""


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(claims: dict) -> str:
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def check(what: str, ok: bool, got: object) -> None:
    if not ok:
        sys.exit(f"wheel smoke test: {what}: got {got!r}")


def main() -> None:
    for tool in ("cargo", "rustc"):
        check(f"{tool} must not be on PATH", shutil.which(tool) is None, shutil.which(tool))
    os.environ["ZT_SMOKE_SECRET"] = SECRET
    import zt

    check("zt.__version__", zt.__version__ == sys.argv[1], zt.__version__)
    authz = zt.Authorizer.from_toml(CONFIG, policy_files={"authz.rego": POLICY})
    now = int(time.time())
    token = hs256({"iss": "https://idp.example.com", "sub": "alice", "aud": "api", "iat": now, "exp": now + 300})
    allowed = authz.authorize(token, method="GET", path="/orders/1")
    check("GET is allowed", allowed.allowed and allowed.outcome == "allow", allowed.reasons)
    check("claims", allowed.claims["sub"] == "alice", allowed.claims)
    denied = authz.authorize(token, method="DELETE", path="/orders/1")
    check("DELETE is denied", denied.outcome == "deny" and denied.reasons == ["policy_denied"], denied.reasons)
    head, body, sig = token.split(".")
    other = "B" if sig[0] == "A" else "A"
    forged = authz.authorize(f"{head}.{body}.{other}{sig[1:]}", method="GET", path="/orders/1")
    check("a forged signature is denied", not forged.allowed, forged.reasons)
    authz.close()

    for name in ("zt.asgi", "zt.wsgi"):
        importlib.import_module(name)
    try:
        importlib.import_module("zt.fastapi")
        sys.exit("wheel smoke test: zt.fastapi imported without FastAPI installed")
    except ModuleNotFoundError as e:
        check("zt.fastapi names what it misses", e.name == "fastapi", e.name)
    print(f"wheel smoke ok: zt {zt.__version__}, allow/deny/forged decided, submodules import")


if __name__ == "__main__":
    main()
