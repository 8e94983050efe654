"""FastAPI route-level enforcement: ``Depends(Require(...))`` returns the :class:`zt.Decision`.

>>> from fastapi import Depends, FastAPI                  # doctest: +SKIP
>>> from zt.fastapi import Require, ZtDenied, denied_handler
>>> app = FastAPI()                                        # doctest: +SKIP
>>> app.add_exception_handler(ZtDenied, denied_handler)    # the core's problem body  # doctest: +SKIP
>>> @app.get("/orders")                                    # doctest: +SKIP
... async def orders(decision=Depends(Require(authz))): ...

Behind :class:`zt.asgi.ZtMiddleware` the middleware's decision is reused (one decision per
request); otherwise the dependency decides the request itself. A denial raises
:class:`ZtDenied`, an ``HTTPException`` with the core's status and headers
(``WWW-Authenticate``, ``x-zt-decision-id``). Without :func:`denied_handler` FastAPI answers
``{"detail": <problem>}``; with it, the RFC 9457 problem body itself, exactly as the
middleware and every other zt surface send it.
"""

import json
from typing import Any, Awaitable, Callable, Dict, Optional

from fastapi import HTTPException, Request
from fastapi.responses import Response

from ._http import check_mode, decide_asgi
from ._zt import Authorizer, Decision

__all__ = ["Require", "ZtDenied", "denied_handler"]


class ZtDenied(HTTPException):
    """A request zt denied; ``decision`` is the :class:`zt.Decision`, ``body`` the problem."""

    def __init__(self, decision: Decision, answer: Dict[str, Any]) -> None:
        body = answer["body"] or b""
        headers = {n: v for n, v in answer["headers"] if n != "content-type"}
        super().__init__(status_code=answer["status"], detail=json.loads(body) if body else None, headers=headers)
        self.decision = decision
        self.body = body


async def denied_handler(request: Request, exc: ZtDenied) -> Response:
    """Answer :class:`ZtDenied` with the core's problem body (``application/problem+json``)."""
    return Response(
        content=exc.body,
        status_code=exc.status_code,
        headers=exc.headers,
        media_type="application/problem+json",
    )


def Require(  # noqa: N802 - named like FastAPI's own dependency factories
    authorizer: Optional[Authorizer] = None,
    *,
    realm: str = "zt",
    mode: Optional[str] = None,
) -> Callable[[Request], Awaitable[Decision]]:
    """A dependency that enforces zt on one route and returns the decision.

    ``authorizer`` may be omitted behind :class:`zt.asgi.ZtMiddleware` (its decision is used).
    ``mode`` overrides the configured mode for this route (``"enforce"`` on an admin route
    while the rest of the app runs in ``warn``)."""
    mode = check_mode(mode)
    if authorizer is not None and not isinstance(authorizer, Authorizer):
        raise TypeError("`authorizer` must be a zt.Authorizer")

    async def require(request: Request) -> Decision:
        state = request.scope.get("state") or {}
        decision = state.get("zt")
        if not isinstance(decision, Decision):  # absent, or lifespan state under that name
            if authorizer is None:
                raise RuntimeError("zt.fastapi.Require() without an authorizer needs zt.asgi.ZtMiddleware")
            scope = request.scope
            decision = await decide_asgi(authorizer, scope)
            scope.setdefault("state", {})["zt"] = decision
        answer = decision.http_answer(realm, mode)
        if not answer["proceed"]:
            raise ZtDenied(decision, answer)
        return decision

    return require
