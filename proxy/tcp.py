"""Opaque TCP: splice a downstream connection to one upstream, with flow control both ways.

Used by the inbound listener for ports of protocol ``tcp`` and by ``--forward`` listeners
for TCP service ports.  Client bytes that arrive before the upstream is connected are
held (the client is paused meanwhile); a failed connect closes the client connection.

The upstream is opened by ``UpstreamPool.open``, the same connect HTTP requests use: to a
meshed endpoint (an announced port) it is mTLS when the proxy has a certificate, with the
server's identity checked against ``Endpoint.identity`` and the PROXY v2 header inside
TLS; plain text to unmeshed endpoints, to the local app, or with mTLS off.  Connections
are never pooled (a splice owns its upstream to the end).

Load balancing feedback: a picker that learns from outcomes (``Target.feedback``, EWMA)
counted the connection as in flight when it picked it; it is told when the connection
ends, with the connect time as the latency sample (a connection's lifetime says nothing
about the endpoint's speed) and ``ok=False`` when the connect failed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import cast

from proxy.admission import ConnectionGate
from proxy.identity.contexts import ResumingClientContext
from proxy.targets import Target
from proxy.upstream import UpstreamPool

logger = logging.getLogger(__name__)


class _Upstream(asyncio.Protocol):
    def __init__(self, down: TcpSplice) -> None:
        self.down = down
        self.transport: asyncio.Transport | None = None
        self.tls_context: ResumingClientContext | None = None  # set while the session ticket is not yet kept

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.tls_context is not None and self.transport is not None:
            # TLS 1.3 tickets arrive after the handshake: keep one for the next connection's resumption
            self.tls_context.remember(self.transport.get_extra_info("ssl_object"))
            self.tls_context = None
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

    def __init__(
        self, target: Target, pool: UpstreamPool, *, gate: ConnectionGate | None = None, opaque: bool = False
    ) -> None:
        self.gate = gate
        self.opaque = opaque  # detected (not declared) opaque: the peer sidecar is told so (proxy.proxyproto)
        self.target = target
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.up: _Upstream | None = None
        self.held: list[bytes] = []
        self.closed = False
        self.counted_close = False
        self.up_eof = False
        self.down_eof = False
        self.task: asyncio.Task[None] | None = None
        self.connect_seconds = 0.0
        self.fed_back = False  # the picker has been told how this connection went

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.pause_reading()
        if self.gate is not None:
            self.gate.opened(self)
        self.task = asyncio.get_event_loop().create_task(self._connect())

    async def _connect(self) -> None:
        target = self.target
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            opening = self.pool.open(target, lambda: _Upstream(self), opaque=self.opaque)
            opened = await asyncio.wait_for(opening, target.connect_timeout)
        except asyncio.CancelledError:  # the client went away while we were connecting
            self._feed_back(seconds=loop.time() - started, ok=True)
            raise
        except (OSError, TimeoutError) as e:  # ssl.SSLError is an OSError
            target.stats.error("connect_timeout" if isinstance(e, TimeoutError) else "connect_failed")
            logger.info("tcp upstream %s:%s unreachable: %s", target.address, target.port, _why(e))
            self._feed_back(seconds=loop.time() - started, ok=False)
            if self.transport is not None:
                self.transport.close()
            return
        self.connect_seconds = loop.time() - started
        up = opened.protocol
        if self.closed or up.transport is None:
            opened.transport.close()
            self._feed_back(seconds=self.connect_seconds, ok=True)
            return
        up.tls_context = opened.tls_context
        self.up = up
        target.stats.tcp_opened += 1
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

    def drain(self) -> None:
        """Shutting down: an opaque stream has no polite end; it runs until it ends or the grace period does."""

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.gate is not None:
            self.gate.closed(self)
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
            self._feed_back(seconds=self.connect_seconds, ok=True)

    def _feed_back(self, *, seconds: float, ok: bool) -> None:
        """Tell a learning picker (EWMA) that this connection is over, exactly once."""
        target = self.target
        if target.feedback is not None and target.endpoint is not None and not self.fed_back:
            self.fed_back = True
            target.feedback.done(target.endpoint, seconds=seconds, ok=ok)

    def pause_writing(self) -> None:
        if self.up is not None and self.up.transport is not None:
            self.up.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.up is not None and self.up.transport is not None:
            self.up.transport.resume_reading()


def _why(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "connect timeout"
    return (error.strerror if isinstance(error, OSError) else None) or repr(error)


class Refuse(asyncio.Protocol):
    """Closes every connection at once (e.g. a forward whose service is not in the config yet)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()
