"""The outbound UDP listener (``--udp-forward LISTEN=SERVICE.NAMESPACE:PORT``): datagrams from the app.

Each source (address, port) is a session: on its first datagram the service port is routed
like an opaque TCP connection (split, load balancing, ``target_for``), and one stream is
opened with ``UpstreamPool.open``, the mesh's connect (mTLS to a meshed endpoint with its
identity checked, PROXY v2 header naming the target port, inside TLS).  Datagrams travel in
it framed (``proxy.udp.framing``); answers come back the same way and are sent to the source.
Datagrams are held (at most ``max_queued``) while the stream connects.  A session idle for
``idle_timeout`` is closed; so is one whose stream fails (its next datagram opens a new one).
A service this proxy may not call (``OutboundConfig.denied``) drops every datagram (counted).
Zero-length datagrams are dropped (counted as ``empty``): asyncio's transports do not send them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import cast

from proxy.capture.engines import route_connection
from proxy.compiled import CompiledConfig
from proxy.holder import ConfigHolder
from proxy.metrics import Metrics
from proxy.outbound import ServiceKey
from proxy.targets import LocalReply, Target
from proxy.udp import framing
from proxy.udp.sessions import SessionTable, UdpLimits
from proxy.udp.stats import UdpEdge, udp_stats_for
from proxy.upstream import UpstreamPool

logger = logging.getLogger(__name__)

SWEEP_EVERY = 1.0


class _Stream(asyncio.Protocol):
    def __init__(self, session: _Session) -> None:
        self.session = session
        self.transport: asyncio.Transport | None = None
        self.decoder = framing.Decoder(limit=session.listener.limits.max_datagram)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            datagrams = self.decoder.feed(data)
        except framing.FramingError:
            self.session.edge.drop("bad_frame")
            self.session.close()
            return
        self.session.answer(datagrams)

    def connection_lost(self, exc: Exception | None) -> None:
        self.session.close()


class _Session:
    def __init__(self, listener: UdpForwardListener, source: tuple[str, int], target: Target, edge: UdpEdge) -> None:
        self.listener = listener
        self.source = source
        self.target = target
        self.edge = edge
        self.stream: _Stream | None = None
        self.queued: list[bytes] = []
        self.closed = False
        self.task = asyncio.get_running_loop().create_task(self._open())
        edge.opened += 1

    async def _open(self) -> None:
        target = self.target
        try:
            opened = await asyncio.wait_for(
                self.listener.pool.open(target, lambda: _Stream(self)), max(target.connect_timeout, 0.1)
            )
        except (OSError, TimeoutError) as e:
            logger.info("udp session %s -> %s:%s: cannot connect: %s", self.source, target.address, target.port, e)
            self.edge.drop("connect_failed")
            self.close()
            return
        if self.closed:
            opened.transport.close()
            return
        self.stream = opened.protocol
        queued, self.queued = self.queued, []
        for datagram in queued:
            self._write(datagram)

    def send(self, datagram: bytes) -> None:
        if self.stream is None:
            if len(self.queued) >= self.listener.limits.max_queued:
                self.edge.drop("queue_full")
                return
            self.queued.append(datagram)
            return
        self._write(datagram)

    def _write(self, datagram: bytes) -> None:
        stream = self.stream
        if stream is None or stream.transport is None or stream.transport.is_closing():
            self.edge.drop("connect_failed")
            return
        stream.transport.write(framing.encode(datagram))
        self.edge.datagrams_out += 1
        self.edge.bytes_out += len(datagram)

    def answer(self, datagrams: list[bytes]) -> None:
        self.listener.touch(self.source)
        for datagram in datagrams:
            self.edge.datagrams_in += 1
            self.edge.bytes_in += len(datagram)
            self.listener.sendto(datagram, self.source)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.edge.closed += 1
        self.task.cancel()
        if self.stream is not None and self.stream.transport is not None:
            self.stream.transport.close()
        self.listener.forget(self.source, self)


class UdpForwardListener(asyncio.DatagramProtocol):
    """One UDP listener bound to one service port."""

    def __init__(
        self, *, holder: ConfigHolder, metrics: Metrics, pool: UpstreamPool, service: ServiceKey,
        bind_address: str = "", limits: UdpLimits = UdpLimits(),
    ) -> None:  # fmt: skip
        self.holder = holder
        self.metrics = metrics
        self.pool = pool
        self.service = service
        self.bind_address = bind_address
        self.limits = limits
        self.stats = udp_stats_for(metrics)
        self.sessions: SessionTable[_Session] = SessionTable(limits.idle_timeout, limits.max_sessions)
        self.transport: asyncio.DatagramTransport | None = None
        self._sweeper: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        self._schedule()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for session in list(self.sessions):
            session.close()

    def _schedule(self) -> None:
        self._sweeper = asyncio.get_running_loop().call_later(SWEEP_EVERY, self._sweep)

    def _sweep(self) -> None:
        for _, session in self.sessions.expired(asyncio.get_running_loop().time()):
            session.close()
        self._schedule()

    def touch(self, source: tuple[str, int]) -> None:
        self.sessions.touch(source, asyncio.get_running_loop().time())

    def forget(self, source: tuple[str, int], session: _Session) -> None:
        if self.sessions.get(source, asyncio.get_running_loop().time()) is session:
            self.sessions.remove(source)

    def sendto(self, datagram: bytes, source: tuple[str, int]) -> None:
        if self.transport is not None:
            self.transport.sendto(datagram, source)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        try:
            self._received(data, (str(addr[0]), int(addr[1])))
        except Exception:
            logger.exception("udp forward %s: datagram from %s dropped", self.service, addr)

    def _edge(self, cc: CompiledConfig | None) -> UdpEdge:
        """The edge from this node to the service, before an endpoint is known."""
        ns, name, _ = self.service
        node = cc.config.node if cc is not None else None
        source = (node.namespace, node.workload, node.identity) if node is not None else ("", "", "")
        return self.stats.edge(("outbound", *source, ns, name, "", "", "", "", "false"))

    def _received(self, data: bytes, source: tuple[str, int]) -> None:
        now = asyncio.get_running_loop().time()
        session = self.sessions.get(source, now)
        if not data or len(data) > self.limits.max_datagram:  # asyncio cannot send an empty datagram
            edge = session.edge if session is not None else self._edge(self.holder.current)
            edge.drop("too_large" if data else "empty")
            return
        if session is not None:
            session.send(data)
            return
        cc = self.holder.current
        port = cc.services.get(self.service) if cc is not None else None
        if cc is None or port is None:
            edge = self._edge(cc)
            denied = cc is not None and f"{self.service[1]}.{self.service[0]}".lower() in cc.denied
            edge.drop("denied" if denied else "no_route")
            return
        if self.sessions.full():
            self._edge(cc).drop("too_many_sessions")
            return
        target = route_connection(self.holder, port, metrics=self.metrics, bind_address=self.bind_address)
        if target is None or isinstance(target, LocalReply):
            self._edge(cc).drop("no_route")
            return
        stats = target.stats
        labels = next((k for k, v in self.metrics.edges.items() if v is stats), None)
        edge = self.stats.edge(labels) if labels is not None else self._edge(cc)
        session = _Session(self, source, target, edge)
        self.sessions.add(source, session, now)
        session.send(data)


async def start_udp_forward(
    *, address: tuple[str, int], holder: ConfigHolder, metrics: Metrics, pool: UpstreamPool, service: ServiceKey,
    bind_address: str = "", limits: UdpLimits = UdpLimits(),
) -> asyncio.DatagramTransport:  # fmt: skip
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: UdpForwardListener(
            holder=holder, metrics=metrics, pool=pool, service=service, bind_address=bind_address, limits=limits
        ),
        local_addr=address,
    )
    return transport
