"""One connected proxy's outgoing message queue.

The publisher fills the queue with ``offer()`` (``put_nowait``, never blocking); the
stream handler drains it onto the socket.  When the queue is full the proxy is not
keeping up: the subscription is closed (queue drained, a ``None`` end marker queued) and
``on_overflow`` runs, which the server uses to abort a write stuck on a full socket.  The
proxy reconnects and starts again from a fresh, complete config.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from smi.distribution.identity import ProxyId

Message = bytes  # one ndjson line, newline included


class Subscription:
    def __init__(
        self,
        proxy: ProxyId,
        *,
        maxsize: int,
        on_overflow: Callable[[], None] | None = None,
    ) -> None:
        if maxsize < 1:
            raise ValueError(f"stream queue size must be >= 1, got {maxsize}")
        self.proxy = proxy
        self.queue: asyncio.Queue[Message | None] = asyncio.Queue(maxsize=maxsize)
        self.on_overflow = on_overflow
        self.closed = False
        self.overflowed = False
        self.last_config: str | None = None  # canonical JSON of the last config queued
        self.last_version = 0

    def offer(self, message: Message) -> bool:
        """Queue ``message``; on a full queue close the subscription and return False."""
        if self.closed:
            return False
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True
            self.close()
            if self.on_overflow is not None:
                self.on_overflow()
            return False
        return True

    def close(self) -> None:
        """End the stream: drop whatever is queued and queue the end marker."""
        if self.closed:
            return
        self.closed = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)
