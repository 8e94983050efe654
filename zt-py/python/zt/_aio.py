"""``await`` support for ``Authorizer.authorize_async`` (called from Rust, not a public API)."""

import asyncio
from typing import Any

from ._zt import Decision


async def settle(begun: Any) -> Decision:
    """The decision: at once when the keys were cached, else the pending decision finished on a
    worker thread (at most one bounded key refetch), so the event loop keeps serving others."""
    if isinstance(begun, Decision):
        return begun
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, begun.wait)
