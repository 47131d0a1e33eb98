"""Coalescing: turn a burst of store changes into one recompile.

A change (``poke()``) opens a batch.  The batch fires when no further change has arrived
for ``window`` seconds (debounce), or at the latest ``max_wait`` seconds after it opened,
so a steady trickle of changes cannot postpone a recompile for ever.  ``poke()`` is
synchronous and cheap, so it can be a ``Store`` listener; ``wait()`` is what the compile
loop awaits.  Only the loop clock is used, so tests drive it with ``looptime``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

DEFAULT_WINDOW = 0.05
DEFAULT_MAX_WAIT = 0.5


@dataclass(frozen=True, slots=True)
class CoalescingSettings:
    window: float = DEFAULT_WINDOW  # quiet time that ends a batch
    max_wait: float = DEFAULT_MAX_WAIT  # longest a batch stays open

    def __post_init__(self) -> None:
        if self.window < 0 or self.max_wait < 0:
            raise ValueError(f"coalescing times must be >= 0, got window={self.window}, max_wait={self.max_wait}")
        if self.max_wait < self.window:
            raise ValueError(f"max_wait ({self.max_wait}) must be >= window ({self.window})")


class Coalescer:
    def __init__(self, settings: CoalescingSettings | None = None) -> None:
        self.settings = settings or CoalescingSettings()
        self._poked = asyncio.Event()
        self._pokes = 0  # pokes since the last batch fired

    def poke(self, *_: object) -> None:
        """Note one change; accepts and ignores any arguments (a Store listener gets the version)."""
        self._pokes += 1
        self._poked.set()

    @property
    def pending(self) -> bool:
        return self._pokes > 0

    async def wait(self) -> int:
        """Wait until a batch is complete; returns how many changes it coalesced."""
        loop = asyncio.get_running_loop()
        await self._poked.wait()
        deadline = loop.time() + self.settings.max_wait
        while True:
            self._poked.clear()
            quiet = min(self.settings.window, deadline - loop.time())
            if quiet <= 0:
                break
            try:
                await asyncio.wait_for(self._poked.wait(), timeout=quiet)
            except TimeoutError:
                break
        pokes, self._pokes = self._pokes, 0
        self._poked.clear()
        return pokes
