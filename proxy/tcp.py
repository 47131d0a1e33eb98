"""Opaque TCP: splice a downstream connection to one upstream, with flow control both ways.

Used by the inbound listener for ports of protocol ``tcp`` and by ``--forward`` listeners
for TCP service ports.  Client bytes that arrive before the upstream is connected are
held (the client is paused meanwhile); a failed connect closes the client connection.
"""

from __future__ import annotations

import asyncio
import logging
from typing import cast

from proxy import proxyproto
from proxy.targets import Target

logger = logging.getLogger(__name__)


class _Upstream(asyncio.Protocol):
    def __init__(self, down: TcpSplice) -> None:
        self.down = down
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.down.target.stats.tcp_received += len(data)
        if self.down.transport is not None:
            self.down.transport.write(data)

    def eof_received(self) -> bool:
        return self.down.half_close(from_upstream=True)

    def connection_lost(self, exc: Exception | None) -> None:
        self.down.upstream_lost()

    def pause_writing(self) -> None:
        if self.down.transport is not None:
            self.down.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.down.transport is not None:
            self.down.transport.resume_reading()


class TcpSplice(asyncio.Protocol):
    """The downstream side of a spliced connection; opens the upstream when it starts."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.transport: asyncio.Transport | None = None
        self.up: _Upstream | None = None
        self.held: list[bytes] = []
        self.closed = False
        self.counted_close = False
        self.up_eof = False
        self.down_eof = False
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.pause_reading()
        self.task = asyncio.get_event_loop().create_task(self._connect())

    async def _connect(self) -> None:
        target = self.target
        loop = asyncio.get_running_loop()
        try:
            _, up = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Upstream(self),
                    target.address,
                    target.port,
                    local_addr=(target.bind, 0) if target.bind else None,
                ),
                target.connect_timeout,
            )
        except (OSError, TimeoutError) as e:
            target.stats.error("connect_timeout" if isinstance(e, TimeoutError) else "connect_failed")
            logger.info("tcp upstream %s:%s unreachable: %r", target.address, target.port, e)
            if self.transport is not None:
                self.transport.close()
            return
        if self.closed or up.transport is None:
            if up.transport is not None:
                up.transport.close()
            return
        self.up = up
        target.stats.tcp_opened += 1
        if target.announce_port:
            src = up.transport.get_extra_info("sockname")
            up.transport.write(
                proxyproto.encode(
                    src_address=src[0], src_port=src[1], dst_address=target.address, dst_port=target.announce_port
                )
            )
        if self.held:
            data = b"".join(self.held)
            self.held = []
            target.stats.tcp_sent += len(data)
            up.transport.write(data)
        if self.transport is not None:
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        up = self.up
        if up is None or up.transport is None:
            self.held.append(data)
            return
        self.target.stats.tcp_sent += len(data)
        up.transport.write(data)

    def eof_received(self) -> bool:
        return self.half_close(from_upstream=False)

    def half_close(self, *, from_upstream: bool) -> bool:
        """Pass a FIN on; once both sides have sent one, close both (True keeps the socket open)."""
        up = self.up
        if up is None or up.transport is None or self.transport is None:
            return False
        if from_upstream:
            self.up_eof = True
            peer = self.transport
        else:
            self.down_eof = True
            peer = up.transport
        if (self.up_eof and self.down_eof) or not peer.can_write_eof():
            self.transport.close()
            up.transport.close()
            return False
        peer.write_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.task is not None:
            self.task.cancel()
        if self.up is not None and self.up.transport is not None:
            self.up.transport.close()
        self._count_close()

    def upstream_lost(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self._count_close()

    def _count_close(self) -> None:
        if self.up is not None and not self.counted_close:
            self.counted_close = True
            self.target.stats.tcp_closed += 1

    def pause_writing(self) -> None:
        if self.up is not None and self.up.transport is not None:
            self.up.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.up is not None and self.up.transport is not None:
            self.up.transport.resume_reading()


class Refuse(asyncio.Protocol):
    """Closes every connection at once (e.g. a forward whose service is not in the config yet)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()
