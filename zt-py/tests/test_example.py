"""zt-py/examples/app.py as a user runs it: a real uvicorn process, curl-like requests."""

import os
import signal
import socket
import subprocess
import sys
import time

import httpx

from conftest import ROOT, wait_listening


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_example_app_decides_like_the_gateway(tmp_path):
    port = free_port()
    tokens_file = tmp_path / "tokens"
    env = dict(os.environ, ZT_APP_ADDR=f"127.0.0.1:{port}", ZT_APP_TOKENS=str(tokens_file), ZT_APP_SECS="60")
    p = subprocess.Popen([sys.executable, str(ROOT / "zt-py" / "examples" / "app.py")], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_listening(port)
        deadline = time.monotonic() + 10
        while not tokens_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        tokens = dict(line.split("=", 1) for line in tokens_file.read_text().split())
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10) as c:
            def call(method, path, who=None):
                headers = {"authorization": f"Bearer {tokens[who]}"} if who else {}
                return c.request(method, path, headers=headers)

            r = call("GET", "/orders/42", "ADMIN")
            assert r.status_code == 200 and r.json()["for"] == "alice"
            r = call("GET", "/orders/42", "DEV_UNENCRYPTED")
            assert r.status_code == 403 and r.json()["reasons"] == ["policy_denied"]
            assert call("POST", "/orders", "VIEWER").status_code == 403
            r = call("POST", "/admin/deploy", "ADMIN")
            assert r.status_code == 401 and 'error="insufficient_user_authentication"' in r.headers["www-authenticate"]
            assert call("GET", "/orders/42").status_code == 401
            assert call("GET", "/healthz").status_code == 200
            assert "zt_decisions_total" in call("GET", "/metrics").text
    finally:
        os.kill(p.pid, signal.SIGTERM)
        p.wait(10)
