"""Fixtures: fixture keys and token minting through the `zt-testkit` binary (the one test kit)."""

import json
import os
import pathlib
import subprocess
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
ISS = "https://idp.example.com"
POLICY = """
package zt.authz
import rego.v1

decision := {"allow": true, "obligations": {"response_headers": {"x-a": "1"}}} if {
    input.request.method == "GET"
    startswith(input.request.path, "/orders")
}
decision := {"allow": false, "step_up": {"acr_values": "mfa", "max_age": 60}} if {
    input.request.path == "/admin"
}
decision := {"allow": false, "reasons": ["insufficient_scope"]} if input.request.method == "POST"
decision := {"allow": input.resource.owner == input.subject.id} if input.request.path == "/doc"
"""


def testkit() -> str:
    path = os.environ.get("ZT_TESTKIT", str(ROOT / "target" / "debug" / "zt-testkit"))
    if not os.path.exists(path):
        pytest.fail(f"zt-testkit binary not found at {path}: run `cargo build -p zt-testkit`")
    return path


def mint(sub: str = "alice", kid_key: str = "ec-p256", **extra) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "sub": sub, "aud": "api", "iat": now, "exp": now + 600, **extra}
    out = subprocess.run(
        [testkit(), "mint", "--key", kid_key, "--alg", "ES256", "--claims", json.dumps(claims)],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return out.stdout.strip()


def jwk(name: str) -> dict:
    return json.loads((ROOT / "zt-core" / "tests" / "data" / "keys" / f"{name}.jwk.json").read_text())


def config(**sections) -> dict:
    base = {
        "service": "orders",
        "issuers": [
            {"issuer": ISS, "audiences": ["api"], "algorithms": ["ES256"], "jwks": {"keys": [jwk("ec-p256")]}}
        ],
        "decision_log": {"sink": "none"},
    }
    base.update(sections)
    return base


@pytest.fixture
def authz():
    import zt

    a = zt.Authorizer.from_dict(config(), policy_files={"authz.rego": POLICY})
    yield a
    a.close()
