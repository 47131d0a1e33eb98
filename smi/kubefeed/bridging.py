"""Running kopf on its own thread and event loop, and calling into the main loop from its handlers.

kopf's operator, when it stops, cancels every task created in its loop while it ran.  The
config server's stream handlers must outlive an operator restart, so kopf gets a thread
and a loop of its own (as ``kopf.testing.KopfRunner`` does).  The store, the feed and the
publisher belong to the main loop; ``LoopBridge.call`` runs a function there and returns
its result to the (executor-thread) kopf handler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class LoopBridge:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def call(self, fn: Callable[[], T], *, timeout: float = 30.0) -> T:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            return fn()

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)
