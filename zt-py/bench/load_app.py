"""The FastAPI app of the load comparison (``load.sh``), in one of three variants:

- ``none``: no authorization at all (the ceiling);
- ``pyjwt``: the typical hand-written dependency — PyJWT decodes and verifies the bearer token
  (ES256, audience, issuer) and the handler checks the caller's group;
- ``zt``: ``zt.asgi.ZtMiddleware`` with the sample bundle (token, device posture, RBAC policy).

All three serve ``GET /orders/{id}`` on uvicorn (one worker) and the same token (the example
app's ADMIN persona), written to ``ZT_LOAD_TOKENS``. Address from ``ZT_LOAD_ADDR``.
"""

import os
import pathlib
import sys
import time

import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
from app import ISSUER, Issuer, build  # noqa: E402 - the example app's issuer and zt app

variant = os.environ.get("ZT_LOAD_VARIANT", "zt")
issuer = Issuer()
now = int(time.time())
device = {"managed": True, "disk_encrypted": True, "jailbroken": False, "patch_age_days": 2, "assessed_at": now}
token = issuer.mint({"iss": ISSUER, "sub": "alice", "aud": "orders-api", "iat": now, "exp": now + 3600,
                     "groups": ["admin"], "device": device})
pathlib.Path(os.environ.get("ZT_LOAD_TOKENS", "/dev/null")).write_text(token)

if variant == "zt":
    app = build(issuer)
else:
    plain = FastAPI()
    if variant == "pyjwt":
        import jwt
        from jwt.algorithms import ECAlgorithm

        public = ECAlgorithm.from_jwk(issuer.jwk)

        def claims(request: Request) -> dict:
            scheme, _, value = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not value:
                raise HTTPException(401, headers={"www-authenticate": "Bearer"})
            try:
                return jwt.decode(value, public, algorithms=["ES256"], audience="orders-api", issuer=ISSUER)
            except jwt.PyJWTError:
                raise HTTPException(401, headers={"www-authenticate": 'Bearer error="invalid_token"'})

        @plain.get("/orders/{oid}")
        async def order_pyjwt(oid: int, c: dict = Depends(claims)):
            if "admin" not in c.get("groups", []):
                raise HTTPException(403)
            return {"order": oid, "for": c["sub"]}
    else:

        @plain.get("/orders/{oid}")
        async def order_none(oid: int):
            return {"order": oid, "for": "anyone"}

    app = plain

if __name__ == "__main__":
    host, _, port = os.environ.get("ZT_LOAD_ADDR", "127.0.0.1:8001").rpartition(":")
    uvicorn.run(app, host=host, port=int(port), log_level="warning", access_log=False)
