"""Fixtures: fixture keys and token minting through the `zt-testkit` binary (the one test kit)."""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
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


ALGS = {"ec-p256": "ES256", "ec-p384": "ES384", "ed25519": "EdDSA"}


def mint(sub: str = "alice", kid_key: str = "ec-p256", **extra) -> str:
    """A token for ``sub`` signed by a fixture key (``kid`` = the key's name), valid 10 min."""
    now = int(time.time())
    claims = {"iss": ISS, "sub": sub, "aud": "api", "iat": now, "exp": now + 600, **extra}
    alg = ALGS.get(kid_key, "RS256")
    out = subprocess.run(
        [testkit(), "mint", "--key", kid_key, "--alg", alg, "--claims", json.dumps(claims)],
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


class Proc:
    """A server process started by a test: its first stdout line is JSON (``port``/``url``,
    ``pid``); stopped by its pid. ``control`` writes a line to its stdin and returns the JSON
    line it answers (the zt-testkit JWKS server's control protocol)."""

    def __init__(self, argv, startup_secs: float = 30):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.info = json.loads(self._line(startup_secs))
        self.pid = self.info["pid"]

    def _line(self, timeout: float) -> str:
        out = []
        reader = threading.Thread(target=lambda: out.append(self.p.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not out or not out[0]:
            self.stop()
            pytest.fail(f"server {self.p.args[:3]} printed nothing within {timeout}s")
        return out[0]

    def control(self, line: str) -> dict:
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        return json.loads(self._line(10))

    def stop(self) -> None:
        if self.p.poll() is None:
            try:
                os.kill(self.p.pid, signal.SIGTERM)
                self.p.wait(5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.kill(self.p.pid, signal.SIGKILL)
                self.p.wait(5)


def wait_listening(port: int, secs: float = 30) -> None:
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"nothing listens on 127.0.0.1:{port} after {secs}s")


@pytest.fixture
def serve(tmp_path):
    """Start ``servers.py KIND`` with a config; yields a function returning the base URL."""
    started = []

    def start(kind: str, mode=None, cfg=None) -> str:
        path = tmp_path / f"config-{len(started)}.json"
        path.write_text(json.dumps(cfg or config()))
        argv = [sys.executable, str(pathlib.Path(__file__).with_name("servers.py")), kind, str(path), "--max-secs", "120"]
        if mode:
            argv += ["--mode", mode]
        proc = Proc(argv)
        started.append(proc)
        wait_listening(proc.info["port"])
        return f"http://127.0.0.1:{proc.info['port']}"

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def jwks_server():
    """A zt-testkit JWKS + discovery server on 127.0.0.1 serving ``ec-p256``, controllable."""
    proc = Proc([testkit(), "serve-jwks", "--keys", "ec-p256", "--max-secs", "120"])
    yield proc
    proc.stop()
