"""Real servers for the middleware tests, run as a separate process by the tests:

    python servers.py asgi|wsgi CONFIG.json [--mode warn] [--max-secs 120]

A FastAPI app under uvicorn (``asgi``) or a Flask app under waitress (``wsgi``), both behind zt's
middleware, on 127.0.0.1 with an ephemeral port. Prints one JSON line ``{"port", "pid"}`` once
listening, and exits by itself after ``--max-secs`` (the tests stop it earlier by its pid).
"""

import argparse
import json
import os
import socket
import sys
import threading

import zt

POLICY = """
package zt.authz
import rego.v1

decision := {"allow": true, "obligations": {
    "response_headers": {"x-a": "1"},
    "request_headers": {"x-injected": "yes"},
}} if {
    input.request.method == "GET"
    startswith(input.request.path, "/orders")
}
decision := {"allow": false, "step_up": {"acr_values": "mfa", "max_age": 60}} if input.request.path == "/admin"
decision := {"allow": false, "reasons": ["insufficient_scope"]} if input.request.method == "POST"
decision := {"allow": true} if startswith(input.request.path, "/route")
decision := {"allow": true} if startswith(input.request.path, "/direct")
"""


def asgi_app(authz: zt.Authorizer, mode):
    from fastapi import Depends, FastAPI, Request

    from zt.asgi import ZtMiddleware
    from zt.fastapi import Require, ZtDenied, denied_handler

    app = FastAPI()
    app.add_exception_handler(ZtDenied, denied_handler)

    @app.get("/orders/{oid}")
    async def orders(oid: str, request: Request):
        d = request.state.zt
        return {
            "order": oid,
            "sub": d.claims["sub"],
            "decision": d.id,
            "outcome": d.outcome,
            "injected": request.headers.get("x-injected"),
        }

    @app.get("/healthz")
    async def healthz(request: Request):
        return {"ok": True, "decided": "zt" in (request.scope.get("state") or {})}

    @app.get("/admin")
    async def admin():
        return {"admin": True}

    @app.post("/orders")
    async def create():
        return {"created": True}

    @app.get("/route")
    async def route(decision: zt.Decision = Depends(Require(mode="enforce"))):
        return {"route": decision.outcome}

    @app.get("/direct")
    async def direct(decision: zt.Decision = Depends(Require(authz, realm="direct"))):
        return {"sub": decision.claims["sub"]}

    return ZtMiddleware(app, authz, realm="api", skip=["/healthz"], skip_prefixes=["/direct"], mode=mode)


def wsgi_app(authz: zt.Authorizer, mode):
    from flask import Flask, jsonify, request

    from zt.wsgi import ZtMiddleware, decision

    app = Flask("zt-test")

    @app.get("/orders/<oid>")
    def orders(oid):
        d = decision(request.environ)
        return jsonify(order=oid, sub=d.claims["sub"], decision=d.id, outcome=d.outcome,
                       injected=request.headers.get("x-injected"))

    @app.get("/healthz")
    def healthz():
        return jsonify(ok=True, decided=decision(request.environ) is not None)

    @app.get("/admin")
    def admin():
        return jsonify(admin=True)

    @app.post("/orders")
    def create():
        return jsonify(created=True)

    app.wsgi_app = ZtMiddleware(app.wsgi_app, authz, realm="api", skip=["/healthz"], mode=mode)
    return app


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=["asgi", "wsgi"])
    p.add_argument("config")
    p.add_argument("--mode", default=None)
    p.add_argument("--max-secs", type=float, default=120)
    args = p.parse_args()
    # Bounded in time whatever happens to the test that started it.
    threading.Timer(args.max_secs, os._exit, (0,)).start()
    with open(args.config) as f:
        config = json.load(f)
    authz = zt.Authorizer.from_dict(config, policy_files={"authz.rego": POLICY})
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    print(json.dumps({"port": sock.getsockname()[1], "pid": os.getpid()}), flush=True)
    if args.kind == "asgi":
        import uvicorn

        server = uvicorn.Server(uvicorn.Config(asgi_app(authz, args.mode), log_level="warning"))
        server.run(sockets=[sock])
    else:
        import waitress

        waitress.serve(wsgi_app(authz, args.mode), sockets=[sock], threads=4, _quiet=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
