"""What the ASGI and WSGI middleware share: skip rules and how an answer becomes headers.

Decisions, status codes, challenges and problem bodies all come from the Rust core
(``Decision.http_answer``); this module only moves them into each server interface.
"""

import ssl
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import quote

from ._zt import Authorizer, Decision

_MODES = (None, "enforce", "warn", "log_only")


class Skip:
    """Paths that bypass zt: exact paths and path prefixes (health checks, metrics)."""

    __slots__ = ("_exact", "_prefixes")

    def __init__(self, skip: Iterable[str] = (), skip_prefixes: Iterable[str] = ()):
        self._exact = frozenset(skip)
        self._prefixes = tuple(skip_prefixes)

    def __call__(self, path: str) -> bool:
        return path in self._exact or (bool(self._prefixes) and path.startswith(self._prefixes))


def check_mode(mode: Optional[str]) -> Optional[str]:
    """Refuse an unknown mode when the middleware is built, not on the first request."""
    if mode not in _MODES:
        raise ValueError(f"mode must be one of 'enforce', 'warn', 'log_only' or None, not {mode!r}")
    return mode


def obligation_headers(decision: Decision, which: str) -> List[Tuple[str, str]]:
    """The ``request_headers`` or ``response_headers`` obligation as valid header pairs (names
    and values that could split a header are skipped, as zt-tower does)."""
    obligations = decision.obligations
    wanted = obligations.get(which) if obligations else None
    if not isinstance(wanted, dict):
        return []
    out = []
    for name, value in wanted.items():
        if isinstance(name, str) and isinstance(value, str) and _valid(name, value):
            out.append((name.lower(), value))
    return out


def _valid(name: str, value: str) -> bool:
    token = name and all(c.isascii() and (c.isalnum() or c in "!#$%&'*+-.^_`|~") for c in name)
    return bool(token) and all(c == "\t" or " " <= c <= "~" for c in value)


# What stays literal when a decoded path is re-encoded: RFC 3986 unreserved characters,
# sub-delims, ":", "@" and "/". Everything else (space, "?", "#", "%", non-ASCII) is escaped.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def routed_target(path: bytes, query: bytes) -> str:
    """The request target zt decides on: the path the application routes on (percent-decoded
    by the server), re-encoded canonically, so ``/%61dmin`` is decided as ``/admin`` — the
    route it reaches — and the raw query string (where ``access_token`` is refused)."""
    target = quote(path, safe=_PATH_SAFE)
    return f"{target}?{query.decode('latin-1')}" if query else target


def merge_headers(
    headers: Sequence[Tuple[bytes, bytes]], extra: List[Tuple[str, str]]
) -> List[Tuple[bytes, bytes]]:
    """ASGI headers with ``extra`` replacing any header of the same name."""
    if not extra:
        return list(headers)
    names = {n.encode("latin-1") for n, _ in extra}
    kept = [(n, v) for (n, v) in headers if n.lower() not in names]
    return kept + [(n.encode("latin-1"), v.encode("latin-1", "replace")) for n, v in extra]


async def decide_asgi(authorizer: Authorizer, scope: Mapping[str, Any]) -> Decision:
    """Decide an ASGI HTTP or WebSocket scope: the raw target with its query, the raw headers,
    the client address; awaits a key refetch without blocking the loop."""
    # Starlette, FastAPI and most ASGI routers route on the decoded `path`, not `raw_path`.
    target = routed_target(scope["path"].encode("utf-8"), scope.get("query_string") or b"")
    client = scope.get("client")
    # The ASGI TLS extension: the client's certificate chain as PEM, the client's first.
    chain = ((scope.get("extensions") or {}).get("tls") or {}).get("client_cert_chain") or []
    return await authorizer.authorize_http_async(
        scope.get("method", "GET"),
        target,
        scope.get("headers") or [],
        client=client[0] if client else None,
        client_certificate=pem_to_der(chain[0]) if chain else None,
    )


def pem_to_der(pem: Optional[str]) -> Optional[bytes]:
    """A PEM certificate as DER (for certificate-bound tokens, RFC 8705); None when absent or
    not a PEM certificate (a bound token then fails with ``certificate_binding_mismatch``)."""
    if not pem:
        return None
    try:
        return ssl.PEM_cert_to_DER_cert(pem)
    except ValueError:
        return None


class MiddlewareBase:
    """What both middleware take: the app, the authorizer, the challenge realm, skip paths
    (exact and plain string prefixes) and a mode override for this app."""

    def __init__(
        self,
        app: Any,
        authorizer: Authorizer,
        *,
        realm: str = "zt",
        skip: Iterable[str] = (),
        skip_prefixes: Iterable[str] = (),
        mode: Optional[str] = None,
    ) -> None:
        if not isinstance(authorizer, Authorizer):
            raise TypeError("`authorizer` must be a zt.Authorizer")
        self.app = app
        self.authorizer = authorizer
        self.realm = realm
        self.mode = check_mode(mode)
        self._skip = Skip(skip, skip_prefixes)
