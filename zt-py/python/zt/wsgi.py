"""WSGI middleware (Flask, Django, any WSGI app): every request decided by zt.

>>> from flask import Flask                                   # doctest: +SKIP
>>> app = Flask(__name__)                                     # doctest: +SKIP
>>> app.wsgi_app = ZtMiddleware(app.wsgi_app, authz, skip=["/healthz"])  # doctest: +SKIP

Same behaviour as :class:`zt.asgi.ZtMiddleware` (extraction, denials, obligations, warn
marker, skip paths, mode override), with the decision in ``environ["zt.decision"]``
(``flask.request.environ["zt.decision"]``, or :func:`decision`). WSGI is synchronous: the
decision comes from cached keys only, so a token signed by a key zt has not fetched yet is
denied (``unknown_key``) while the key is fetched in the background, bounded by the issuer's
cooldown.
"""

from http import HTTPStatus
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from ._http import MiddlewareBase, obligation_headers, pem_to_der, routed_target
from ._zt import Decision

__all__ = ["ZtMiddleware", "decision", "ENVIRON_KEY"]

ENVIRON_KEY = "zt.decision"
"""Where the middleware leaves the :class:`zt.Decision` in the WSGI environ."""

StartResponse = Callable[..., Any]
WSGIApp = Callable[[Dict[str, Any], StartResponse], Iterable[bytes]]


def decision(environ: Dict[str, Any]) -> Optional[Decision]:
    """The decision for this request (None on a skipped path or without the middleware)."""
    return environ.get(ENVIRON_KEY)


def _headers(environ: Dict[str, Any]) -> List[Tuple[str, bytes]]:
    # PEP 3333: header values are "bytes as str" (latin-1); give zt the bytes themselves.
    out = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            out.append((key[5:].replace("_", "-").lower(), value.encode("latin-1", "replace")))
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            out.append((key.replace("_", "-").lower(), value.encode("latin-1", "replace")))
    return out


def _target(environ: Dict[str, Any]) -> str:
    # The path the application routes on: SCRIPT_NAME + PATH_INFO, decoded by the server
    # (PEP 3333: bytes as latin-1 str), re-encoded canonically; never the raw REQUEST_URI,
    # whose `/%61dmin` would be decided as something other than the `/admin` it reaches.
    path = (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")).encode("latin-1", "replace")
    return routed_target(path or b"/", environ.get("QUERY_STRING", "").encode("latin-1", "replace"))


class ZtMiddleware(MiddlewareBase):
    """Decide each request with ``authorizer`` before ``app`` sees it (see the module doc)."""


    def __call__(self, environ: Dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if self._skip(environ.get("PATH_INFO", "")):
            return self.app(environ, start_response)
        d = self.authorizer.authorize_http(
            environ.get("REQUEST_METHOD", "GET"),
            _target(environ),
            _headers(environ),
            client=environ.get("REMOTE_ADDR") or None,
            # mod_ssl-style servers export the client certificate as PEM (RFC 8705 binding).
            client_certificate=pem_to_der(environ.get("SSL_CLIENT_CERT")),
        )
        environ[ENVIRON_KEY] = d
        answer = d.http_answer(self.realm, self.mode)
        if not answer["proceed"]:
            status = answer["status"]
            body = answer["body"] or b""
            headers = list(answer["headers"]) + [("content-length", str(len(body)))]
            start_response(f"{status} {HTTPStatus(status).phrase}", headers)
            return [body]
        for name, value in obligation_headers(d, "request_headers"):
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        extra = obligation_headers(d, "response_headers") + answer["headers"]
        if not extra:
            return self.app(environ, start_response)
        names = {n for n, _ in extra}

        def start_with_headers(status: str, headers: List[Tuple[str, str]], *exc_info: Any) -> Any:
            kept = [(n, v) for (n, v) in headers if n.lower() not in names]
            return start_response(status, kept + extra, *exc_info)

        return self.app(environ, start_with_headers)
