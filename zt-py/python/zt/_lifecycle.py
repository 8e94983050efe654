"""Closing authorizers at interpreter exit (called from Rust, not a public API).

``atexit`` handlers run while the interpreter still works: queued decision-log records are
written and a Python ``log_callback`` still runs. Afterwards zt-core's worker threads never
touch the dying interpreter.
"""

import atexit
import weakref
from typing import Any

_live: "weakref.WeakSet[Any]" = weakref.WeakSet()


def track(authorizer: Any) -> None:
    """Close ``authorizer`` at exit unless it is collected before."""
    _live.add(authorizer)


@atexit.register
def _close_all() -> None:
    for authorizer in list(_live):
        try:
            authorizer.close()
        except Exception:  # noqa: BLE001 - at exit, one failure must not stop the others
            pass
