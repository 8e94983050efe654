"""Pure ASGI middleware: every HTTP request (and WebSocket handshake) decided by zt.

>>> from starlette.applications import Starlette          # doctest: +SKIP
>>> app = Starlette(routes=[...])                         # doctest: +SKIP
>>> app = ZtMiddleware(app, zt.Authorizer.from_file("zt.toml"), skip=["/healthz"])  # doctest: +SKIP

Or, with Starlette/FastAPI, ``app.add_middleware(ZtMiddleware, authorizer=authz)``.

What it does, like zt-tower:

- reads one ``Authorization: Bearer`` header (more than one, a malformed token or a token in
  the query string is a deny, ``authorization_malformed``), the host, the headers named in
  ``[request] headers`` and the client address, through the Rust core's one extraction;
- awaits the decision without blocking the event loop (``authorize_http_async``: at once with
  cached keys, one bounded key refetch for an unknown ``kid``);
- puts the :class:`zt.Decision` in ``scope["state"]["zt"]`` (``request.state.zt`` in
  Starlette and FastAPI);
- answers a denial itself with the core's status, ``WWW-Authenticate`` challenge,
  ``x-zt-decision-id`` and RFC 9457 problem body; a denied WebSocket handshake is closed with
  code 1008 (policy violation), which servers send as HTTP 403;
- applies the ``request_headers`` / ``response_headers`` obligations and marks responses
  allowed only by ``warn`` mode with ``x-zt-would-deny``.

Not a ``BaseHTTPMiddleware``: streaming bodies, background tasks and context variables pass
through untouched. Lifespan and other scope types pass straight to the app.
"""

from typing import Any, Awaitable, Callable, Dict, MutableMapping

from ._http import MiddlewareBase, decide_asgi, merge_headers, obligation_headers

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = ["ZtMiddleware"]


class ZtMiddleware(MiddlewareBase):
    """Decide each request with ``authorizer`` before ``app`` sees it.

    :param realm: the ``realm`` of ``WWW-Authenticate`` challenges.
    :param skip: exact paths that bypass zt (no decision, nothing in ``state``).
    :param skip_prefixes: path prefixes that bypass zt (plain string prefixes, as in zt-tower:
        end one with ``/`` to stop at a segment, or ``/static`` also skips ``/static-admin``).
    :param mode: ``"enforce"``, ``"warn"`` or ``"log_only"`` for this app, overriding the
        configured mode (None keeps the config's, canary and shadow included).
    """


    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket") or self._skip(scope["path"]):
            await self.app(scope, receive, send)
            return
        decision = await decide_asgi(self.authorizer, scope)
        state: Dict[str, Any] = scope.setdefault("state", {})
        state["zt"] = decision
        answer = decision.http_answer(self.realm, self.mode)
        if not answer["proceed"]:
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1008, "reason": "zt: denied"})
                return
            await send(
                {
                    "type": "http.response.start",
                    "status": answer["status"],
                    "headers": [(n.encode("latin-1"), v.encode("latin-1")) for n, v in answer["headers"]],
                }
            )
            await send({"type": "http.response.body", "body": answer["body"] or b""})
            return
        to_request = obligation_headers(decision, "request_headers")
        if to_request:
            scope = dict(scope)
            scope["headers"] = merge_headers(scope.get("headers") or [], to_request)
        to_response = obligation_headers(decision, "response_headers") + answer["headers"]
        if not to_response or kind != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = merge_headers(message.get("headers") or [], to_response)
            await send(message)

        await self.app(scope, receive, send_with_headers)
