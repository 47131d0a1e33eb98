"""The inbound side of a UDP session: one framed stream from a peer sidecar, one UDP flow to the app.

The inbound listener hands a connection whose PROXY header names a ``udp`` port here, once
the caller's identity is known (verified client certificate with mTLS).  The session is
authorized once by UDPRoute rules (``proxy.udp.policy``); denied: the stream is closed and
counted.  Allowed: a UDP socket connected to ``app_address:port`` (so the app sees one source
port per session, as with a direct client) carries the datagrams; the app's answers go back
framed.  Idle for ``idle_timeout``: both are closed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import cast

from proxy.udp import framing
from proxy.udp.sessions import UdpLimits
from proxy.udp.stats import UdpEdge

logger = logging.getLogger(__name__)


class _AppSide(asyncio.DatagramProtocol):
    def __init__(self, session: InboundUdpSession) -> None:
        self.session = session

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.session.from_app(data)

    def error_received(self, exc: Exception) -> None:  # e.g. ICMP port unreachable: the app is not listening
        self.session.edge.drop("connect_failed")


class InboundUdpSession(asyncio.Protocol):
    def __init__(self, *, app: tuple[str, int], edge: UdpEdge, limits: UdpLimits = UdpLimits()) -> None:
        self.app = app
        self.edge = edge
        self.limits = limits
        self.decoder = framing.Decoder(limit=limits.max_datagram)
        self.transport: asyncio.Transport | None = None
        self.socket: asyncio.DatagramTransport | None = None
        self.held: list[bytes] = []
        self.closed = False
        self.last_seen = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        loop = asyncio.get_running_loop()
        self.last_seen = loop.time()
        self.edge.opened += 1
        self._task = loop.create_task(self._open())
        self._timer = loop.call_later(self.limits.idle_timeout, self._check_idle)

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self.socket, _ = await loop.create_datagram_endpoint(lambda: _AppSide(self), remote_addr=self.app)
        except OSError as e:
            logger.info("udp session to the app at %s:%s: %s", *self.app, e)
            self.edge.drop("connect_failed")
            self.close()
            return
        if self.closed:
            self.socket.close()
            return
        held, self.held = self.held, []
        for datagram in held:
            self._to_app(datagram)

    def data_received(self, data: bytes) -> None:
        try:
            datagrams = self.decoder.feed(data)
        except framing.FramingError:
            self.edge.drop("bad_frame")
            self.close()
            return
        self.last_seen = asyncio.get_running_loop().time()
        for datagram in datagrams:
            if self.socket is None:
                if len(self.held) >= self.limits.max_queued:
                    self.edge.drop("queue_full")
                else:
                    self.held.append(datagram)
            else:
                self._to_app(datagram)

    def _to_app(self, datagram: bytes) -> None:
        assert self.socket is not None
        self.socket.sendto(datagram)
        self.edge.datagrams_out += 1
        self.edge.bytes_out += len(datagram)

    def from_app(self, datagram: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if len(datagram) > self.limits.max_datagram:
            self.edge.drop("too_large")
            return
        self.last_seen = asyncio.get_running_loop().time()
        self.transport.write(framing.encode(datagram))
        self.edge.datagrams_in += 1
        self.edge.bytes_in += len(datagram)

    def _check_idle(self) -> None:
        loop = asyncio.get_running_loop()
        idle = loop.time() - self.last_seen
        if idle >= self.limits.idle_timeout:
            self.close()
        else:
            self._timer = loop.call_later(self.limits.idle_timeout - idle, self._check_idle)

    def eof_received(self) -> bool:
        self.close()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.edge.closed += 1
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None:
            self._task.cancel()
        if self.socket is not None:
            self.socket.close()
        if self.transport is not None:
            self.transport.close()
