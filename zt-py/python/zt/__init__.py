"""zt: embeddable zero-trust authorization.

>>> import zt
>>> authz = zt.Authorizer.from_file("zt.toml")          # doctest: +SKIP
>>> d = authz.authorize(token, method="GET", path="/")  # doctest: +SKIP
>>> d.allowed, d.reasons                                # doctest: +SKIP

Every call is a thin conversion over the Rust core (zt-core): the same config schema, the same
decisions, reason codes, error codes and HTTP mapping as every other zt surface.
"""

from ._errors import ConfigError, PolicyError, TokenError, ZtError, ZtRuntimeError
from ._zt import Authorizer, Decision, __version__, replay, report

__all__ = [
    "Authorizer",
    "ConfigError",
    "Decision",
    "PolicyError",
    "TokenError",
    "ZtError",
    "ZtRuntimeError",
    "__version__",
    "replay",
    "report",
]
