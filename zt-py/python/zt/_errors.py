"""The exception tree. The Rust core raises these by error code; never parse messages."""

import json
from typing import Any, Dict, Optional


class ZtError(Exception):
    """Base of every zt error. ``code`` is the core's stable error code; ``details`` holds
    the structured parts (``key``, ``file``, ``revision``, ``source``, ``line``, ...)."""

    code: str
    details: Dict[str, Any]

    def __init__(self, message: str, code: str = "", details: Optional[Dict[str, Any]] = None):
        super().__init__(message)
        self.code = code
        self.details = dict(details or {})

    @property
    def key(self) -> Optional[str]:
        """The configuration key the error names, if any."""
        return self.details.get("key")

    @property
    def file(self) -> Optional[str]:
        """The file the error is in, if any."""
        return self.details.get("file")


class ConfigError(ZtError, ValueError):
    """An invalid configuration (bad key, value out of range, unreadable file, ...)."""


class PolicyError(ZtError):
    """A policy bundle that does not load, compile or pass its own tests."""


class TokenError(ZtError):
    """A rejected token (from ``Authorizer.verify``); ``reason`` is the stable reason code."""

    @property
    def reason(self) -> str:
        return self.details.get("reason", self.code)


class ZtRuntimeError(ZtError, RuntimeError):
    """zt's own machinery could not start (a thread, the key fetch runtime, ...)."""


_CLASSES = {
    "ConfigError": ConfigError,
    "PolicyError": PolicyError,
    "TokenError": TokenError,
    "ZtRuntimeError": ZtRuntimeError,
}


def _from_json(class_name: str, payload: str) -> ZtError:
    """Build the exception for a serialised core error (called from Rust)."""
    data = json.loads(payload)
    message = data.pop("message", "zt error")
    code = data.pop("code", "")
    return _CLASSES.get(class_name, ZtError)(message, code, data)
