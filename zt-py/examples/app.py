"""A FastAPI service protected by zt (``zt.asgi.ZtMiddleware``) and the sample policy bundle,
on 127.0.0.1 — the Python twin of zt-tower's ``gateway`` example.

It creates an ES256 issuer key for this run (inline JWKS: no identity provider needed), mints
a few ready-to-use tokens, prints curl lines and serves until Ctrl-C::

    pip install ./zt-py fastapi uvicorn cryptography
    python zt-py/examples/app.py

Environment: ``ZT_APP_ADDR`` (default ``127.0.0.1:8000``), ``ZT_APP_TOKENS`` (a file to write
``NAME=TOKEN`` lines to), ``ZT_APP_SECS`` (stop after this many seconds).
"""

import base64
import json
import os
import pathlib
import time

import uvicorn
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

import zt
from zt.asgi import ZtMiddleware
from zt.fastapi import ZtDenied, denied_handler

ISSUER = "https://idp.app.example"
BUNDLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "policies"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Issuer:
    """A throwaway ES256 issuer: its public JWK for zt's config, and token minting."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        n = self.key.public_key().public_numbers()
        self.jwk = {"kty": "EC", "crv": "P-256", "kid": "app", "use": "sig", "alg": "ES256",
                    "x": b64(n.x.to_bytes(32, "big")), "y": b64(n.y.to_bytes(32, "big"))}

    def mint(self, claims: dict) -> str:
        header = {"alg": "ES256", "kid": "app", "typ": "at+jwt"}
        signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def build(issuer: Issuer) -> FastAPI:
    authz = zt.Authorizer.from_dict({
        "service": "orders-app",
        "issuers": [{"issuer": ISSUER, "audiences": ["orders-api"], "algorithms": ["ES256"],
                     "jwks": {"keys": [issuer.jwk]}, "token_type": "at+jwt"}],
        "request": {"headers": ["x-request-id"]},
        "policy": {"bundle": str(BUNDLE)},
        "decision_log": {"sink": "none"},
    })
    app = FastAPI(title="orders (zt example)")
    app.add_exception_handler(ZtDenied, denied_handler)

    @app.get("/orders/{oid}")
    async def order(oid: int, request: Request):
        d: zt.Decision = request.state.zt
        return {"order": oid, "for": d.claims["sub"], "decision_id": d.id, "policy_reasons": d.policy_reasons}

    @app.post("/orders")
    async def create():
        return {"created": True}

    @app.post("/admin/deploy")
    async def deploy():
        return {"deployed": True}

    @app.get("/healthz")
    async def healthz():
        return {"ok": True}

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics():
        return authz.prometheus()

    return ZtMiddleware(app, authz, realm="orders", skip=["/healthz", "/metrics"])


def main() -> None:
    issuer = Issuer()
    app = build(issuer)
    now = int(time.time())
    healthy = {"managed": True, "disk_encrypted": True, "jailbroken": False, "patch_age_days": 2, "assessed_at": now}
    unencrypted = {"managed": True, "disk_encrypted": False, "assessed_at": now}

    def claims(sub, groups, device):
        return {"iss": ISSUER, "sub": sub, "aud": "orders-api", "iat": now, "exp": now + 3600,
                "groups": groups, "device": device}

    tokens = {
        "ADMIN": issuer.mint(claims("alice", ["admin"], healthy)),
        "DEV_UNENCRYPTED": issuer.mint(claims("bob", ["dev"], unencrypted)),
        "VIEWER": issuer.mint(claims("vic", ["viewer"], healthy)),
    }
    host, _, port = os.environ.get("ZT_APP_ADDR", "127.0.0.1:8000").rpartition(":")
    if os.environ.get("ZT_APP_TOKENS"):
        pathlib.Path(os.environ["ZT_APP_TOKENS"]).write_text("".join(f"{k}={v}\n" for k, v in tokens.items()))
    base = f"http://{host}:{port}"
    print(f"zt example app on {base} (Ctrl-C to stop)\n")
    for name, token in tokens.items():
        print(f"export {name}={token}")
    print(f"""
curl -i -H "Authorization: Bearer $ADMIN" {base}/orders/42            # 200
curl -i -H "Authorization: Bearer $DEV_UNENCRYPTED" {base}/orders/42  # 403 disk_not_encrypted
curl -i -X POST -H "Authorization: Bearer $VIEWER" {base}/orders      # 403 rbac_not_permitted
curl -i -X POST -H "Authorization: Bearer $ADMIN" {base}/admin/deploy # 401 step-up (RFC 9470)
curl -i {base}/orders/42                                             # 401 no token
curl -s {base}/metrics | grep zt_decisions                           # Prometheus""", flush=True)
    config = uvicorn.Config(app, host=host, port=int(port), log_level="warning")
    server = uvicorn.Server(config)
    secs = os.environ.get("ZT_APP_SECS")
    if secs:
        import threading

        threading.Timer(float(secs), lambda: setattr(server, "should_exit", True)).start()
    server.run()


if __name__ == "__main__":
    main()
