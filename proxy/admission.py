"""Admission per listener: a cap on open connections, and draining.

A ``ConnectionGate`` counts the connections of one listener that are open.  Beyond its
``cap`` a new connection is refused politely (an HTTP listener answers ``503`` with
``connection: close``; others are closed) and the refusal is logged, rate-limited.  The
admin listener has its own gate, so a flood on a data listener never takes ``/ready`` or
``/metrics`` with it; the default cap of a data listener leaves a reserve of file
descriptors for admin, health and upstream connections (``default_cap``).

Draining (SIGTERM): every open connection is told to drain (``Drainable.drain``: an idle
keep-alive closes now, a busy one closes after its response, which says
``connection: close``), the gate refuses new connections, and ``drained`` waits until
the last one has closed.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import Protocol

from proxy.http.logs import LogLimiter, default_limiter

logger = logging.getLogger(__name__)

RESERVE_FDS = 128  # kept for the admin listener, the config stream, logging and the like


class Drainable(Protocol):
    def drain(self) -> None: ...


class ConnectionGate:
    """Open connections of one listener: the cap, the refusals, draining."""

    def __init__(self, name: str, *, cap: int, log: LogLimiter | None = None) -> None:
        self.name = name
        self.cap = cap
        self.live: set[Drainable] = set()
        self.refused = 0
        self.draining = False
        self._log = log or default_limiter
        self._empty = asyncio.Event()
        self._empty.set()

    def admit(self) -> bool:
        """Whether a new connection may open now (False: refuse it, and it is logged)."""
        if self.draining:
            self._refuse("draining")
            return False
        if len(self.live) >= self.cap:
            self._refuse(f"{len(self.live)} connections open, the cap (--max-connections {self.cap})")
            return False
        return True

    def _refuse(self, why: str) -> None:
        self.refused += 1
        self._log.log(logger, logging.WARNING, f"{self.name} listener: refused a connection: {why}",
                      f"refused:{self.name}")  # fmt: skip

    def opened(self, conn: Drainable) -> None:
        self.live.add(conn)
        self._empty.clear()
        if self.draining:
            conn.drain()

    def closed(self, conn: Drainable) -> None:
        self.live.discard(conn)
        if not self.live:
            self._empty.set()

    def replace(self, old: Drainable, new: Drainable) -> None:
        """The connection is handed to another protocol (inbound: after the PROXY header)."""
        if old in self.live:
            self.live.discard(old)
            self.live.add(new)
            if self.draining:
                new.drain()

    def drain(self) -> None:
        self.draining = True
        for conn in list(self.live):
            conn.drain()

    async def drained(self) -> None:
        await self._empty.wait()


def raise_fd_limit() -> int:
    """Raise the soft open-files limit to the hard one (as Go's runtime does); the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def default_cap(listeners: int) -> int:
    """A cap per data listener that leaves ``RESERVE_FDS`` descriptors free: what is left is shared by
    ``listeners``, and halved because each client connection may hold an upstream connection too."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max(16, (soft - RESERVE_FDS) // (2 * max(listeners, 1)))


__all__ = ["ConnectionGate", "Drainable", "default_cap", "raise_fd_limit"]
