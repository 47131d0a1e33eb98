"""The asyncio shell around the sans-IO HTTP core: the only part of the engine that does I/O.

``HttpServerProtocol`` is the ``asyncio.Protocol`` of one client connection.  It feeds
events to its ``HttpConnection`` and executes the commands it returns: socket writes and
closes, reading paused and resumed, upstream connections taken from the pool or opened
(``OpenUpstream``: a task per connect, within the target's connect timeout), one timer
(``SetTimer``), log lines (rate-limited per kind, ``proxy.http.logs``).  After a 101 it
splices the two sockets itself (``StartTunnel``): the core is out of the way.

An idle pooled connection the core took from the pool is bound by its first
``WriteUpstream``.  ``UpstreamProtocol`` is the socket of one upstream connection; its sans-IO state is an
``Upstream``.  While bound (``owner`` set) its events go to the owner's core; idle in the
pool, a close takes it out of the pool and a stray byte closes it.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import TYPE_CHECKING, Any, cast

from proxy.admission import ConnectionGate
from proxy.http import commands as c
from proxy.http import events as ev
from proxy.http.attempts import Attempt, ConnectFailure, RetryPolicy
from proxy.http.commands import OpenUpstream, ReleaseUpstream, SetTimer, WriteClient, WriteUpstream
from proxy.http.connection import HttpConnection
from proxy.http.logs import LogLimiter, default_limiter
from proxy.http.upstreams import Upstream
from proxy.http.writing import local_response
from proxy.limits import DEFAULT_LIMITS, HttpLimits
from proxy.targets import Router
from proxy.upstream import UpstreamIdentityRejected, UpstreamPool

if TYPE_CHECKING:
    from proxy.resilience.guard import DestinationGuard

CIRCUIT_OPEN = "circuit_open"  # the metrics reason of a circuit refusal (proxy.http.guarding)

logger = logging.getLogger("proxy.http")
_LINGER = 2.0  # seconds a closed connection keeps reading (and dropping) what the client still sends


class UpstreamProtocol(asyncio.Protocol):
    """One upstream socket; ``upstream`` is its sans-IO state."""

    __slots__ = ("guard", "owner", "pool", "transport", "tunnel", "upstream")

    def __init__(self, pool: UpstreamPool, upstream: Upstream, guard: DestinationGuard | None = None) -> None:
        self.pool = pool
        self.guard = guard  # holds one of the destination's circuit connection slots while open
        self.upstream = upstream
        if guard is not None:
            upstream.idle_timeout = guard.pool_idle_timeout  # the policy's timeouts.idle, if set
        upstream.io = self
        self.transport: asyncio.Transport | None = None
        self.owner: HttpServerProtocol | None = None
        self.tunnel = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        owner = self.owner
        if owner is None:
            self.close()  # a response nobody asked for: the connection is out of sync
        elif self.tunnel:
            owner.tunnel_write(data)
        else:
            owner.run(owner.core.upstream_data(self.upstream, data))

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.upstream.closed = True
        if self.guard is not None:
            self.guard.breaker.release_connection()
            self.guard = None
        owner = self.owner
        if owner is None:
            self.pool.discard(self.upstream)
        elif self.tunnel:
            owner.tunnel_closed()
        else:
            owner.run(owner.core.handle(ev.UpstreamClosed(self.upstream)))

    def pause_writing(self) -> None:
        if self.owner is not None:
            self.owner.upstream_writable(self, False)

    def resume_writing(self) -> None:
        if self.owner is not None:
            self.owner.upstream_writable(self, True)

    # -- what the pool and the client side use
    def ssl_object(self) -> Any:
        return self.transport.get_extra_info("ssl_object") if self.transport is not None else None

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.upstream.closed:
            self.transport.write(data)

    def pause_reading(self) -> None:
        if self.transport is not None and not self.upstream.closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.upstream.closed:
            self.transport.resume_reading()

    def close(self) -> None:
        self.owner = None
        if self.transport is not None and not self.upstream.closed:
            self.upstream.closed = True
            self.transport.close()
        self.pool.discard(self.upstream)

    def abort(self) -> None:
        self.owner = None
        if self.transport is not None and not self.upstream.closed:
            self.upstream.closed = True
            self.transport.abort()
        self.pool.discard(self.upstream)


def _io(upstream: Upstream) -> UpstreamProtocol:
    return cast(UpstreamProtocol, upstream.io)


class HttpServerProtocol(asyncio.Protocol):
    """The client side of one HTTP/1.1 connection: a thin shell around ``HttpConnection``."""

    def __init__(
        self, *, router: Router, pool: UpstreamPool, peer: str = "", limits: HttpLimits = DEFAULT_LIMITS,
        retry: RetryPolicy | None = None, log: LogLimiter | None = None, gate: ConnectionGate | None = None,
    ) -> None:  # fmt: skip
        self.router = router
        self.pool = pool
        self.peer = peer
        self.limits = limits
        self.retry = retry
        self.log = log or default_limiter
        self.gate = gate  # counts this connection (cap, draining)
        self.loop = asyncio.get_event_loop()
        self.transport: asyncio.Transport | None = None
        self.core: HttpConnection = cast(HttpConnection, None)
        self.closed = False
        self.tunnel: UpstreamProtocol | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._connecting: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ client socket events
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if not self.peer:
            peer = transport.get_extra_info("peername")
            self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.core = HttpConnection(
            router=self.router, clock=self.loop.time, limits=self.limits, retry=self.retry, peer=self.peer,
            pool=self.pool,
        )  # fmt: skip
        self.run(self.core.handle(ev.ClientConnected()))
        if self.gate is not None:
            self.gate.opened(self)

    def drain(self) -> None:
        """Shutting down: see ``events.Draining`` (a tunnel is left to end or to the grace period)."""
        if not self.closed and self.tunnel is None and self.transport is not None:
            self.run(self.core.handle(ev.Draining()))

    def data_received(self, data: bytes) -> None:
        if self.tunnel is not None:
            self.tunnel.write(data)
        elif not self.closed:
            self.run(self.core.client_data(data))

    def eof_received(self) -> bool:
        if self.tunnel is not None or self.closed:
            return False
        self.run(self.core.handle(ev.ClientEof()))
        return self.core.half_open and not self.closed

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in self._connecting:
            task.cancel()
        if self.tunnel is not None:
            self.tunnel.close()
            self.tunnel = None
        self.run(self.core.handle(ev.ClientClosed()))
        if self.gate is not None:
            self.gate.closed(self)

    def pause_writing(self) -> None:
        if self.tunnel is not None:
            self.tunnel.pause_reading()
        else:
            self.run(self.core.handle(ev.ClientWritable(False)))

    def resume_writing(self) -> None:
        if self.tunnel is not None:
            self.tunnel.resume_reading()
        else:
            self.run(self.core.handle(ev.ClientWritable(True)))

    # ------------------------------------------------------------------ upstream socket events
    def upstream_writable(self, io: UpstreamProtocol, writable: bool) -> None:
        if self.tunnel is io:
            if self.transport is not None:
                (self.transport.resume_reading if writable else self.transport.pause_reading)()
            return
        self.run(self.core.handle(ev.UpstreamWritable(io.upstream, writable)))

    def tunnel_write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def tunnel_closed(self) -> None:
        self.tunnel = None
        if self.transport is not None:
            self.transport.close()

    # ------------------------------------------------------------------ executing commands
    def run(self, commands: list[c.Command]) -> None:
        """Execute commands in order; the common ones first, without a call each (the hot path)."""
        for cmd in commands:
            kind = type(cmd)
            if kind is WriteClient:
                if not self.closed:
                    self.transport.write(cmd.data)  # type: ignore[union-attr, attr-defined]
            elif kind is WriteUpstream:
                io = cmd.upstream.io  # type: ignore[attr-defined]
                io.owner = self  # bound (taken from the pool by the core, or opened for it)
                io.write(cmd.data)  # type: ignore[attr-defined]
            elif kind is ReleaseUpstream:
                up: Upstream = cmd.upstream  # type: ignore[attr-defined]
                up.io.owner = None  # type: ignore[attr-defined]
                self.pool.release(up)
            elif kind is OpenUpstream:
                self._open(cmd.attempt)  # type: ignore[attr-defined]
            elif kind is SetTimer:
                self._set_timer(cmd.at)  # type: ignore[attr-defined]
            else:
                self._run_rare(cmd)

    def _run_rare(self, cmd: c.Command) -> None:
        transport = self.transport
        assert transport is not None
        if isinstance(cmd, c.PauseClient):
            if not transport.is_closing():
                transport.pause_reading()
        elif isinstance(cmd, c.ResumeClient):
            if not transport.is_closing():
                transport.resume_reading()
        elif isinstance(cmd, c.CloseClient):
            self.closed = True
            if cmd.abort:
                transport.abort()
            else:
                self._close_lingering(transport)
        elif isinstance(cmd, c.CloseUpstream):
            io = _io(cmd.upstream)
            (io.abort if cmd.abort else io.close)()
        elif isinstance(cmd, c.PauseUpstream):
            _io(cmd.upstream).pause_reading()
        elif isinstance(cmd, c.ResumeUpstream):
            _io(cmd.upstream).resume_reading()
        elif isinstance(cmd, c.StartTunnel):
            io = _io(cmd.upstream)
            io.owner = self
            io.tunnel = True
            self.tunnel = io
            if cmd.to_upstream:
                io.write(cmd.to_upstream)
            if not transport.is_closing():
                transport.resume_reading()
        elif isinstance(cmd, c.Log):
            self.log.log(logger, cmd.level, cmd.message, cmd.key)

    def _close_lingering(self, transport: asyncio.Transport) -> None:
        """Close after our last bytes without losing them to a reset.

        Closing a socket with unread client bytes makes the kernel send a reset, which can
        destroy a response (a 431, a 400) the client has not read yet.  So: send our FIN
        after the response, read and drop what the client still sends until it closes, and
        close anyway after ``_LINGER`` seconds.
        """
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if transport.is_closing() or not transport.can_write_eof():
            transport.close()
            return
        try:
            transport.write_eof()
            transport.resume_reading()
        except (OSError, RuntimeError):
            transport.close()
            return
        self._timer = self.loop.call_later(_LINGER, transport.close)

    def _set_timer(self, at: float) -> None:
        if self.closed:
            return  # the linger timer (if any) stays; connection_lost cancels it
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if at:
            self._timer = self.loop.call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if not self.closed:
            self.run(self.core.handle(ev.DeadlineReached()))

    def _open(self, attempt: Attempt) -> None:
        task = self.loop.create_task(self._connect(attempt))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)

    async def _connect(self, attempt: Attempt) -> None:
        target = attempt.target
        pool = self.pool
        where = f"{target.address}:{target.port}"
        guard = target.guard
        if guard is not None and not guard.breaker.try_connection():  # the circuit's connection limit
            text = f"circuit open: {guard.name} has {guard.breaker.limits.max_connections} connections"
            if not self.closed:
                self.run(self.core.handle(ev.UpstreamConnectFailed(attempt, ConnectFailure(
                    CIRCUIT_OPEN, text, 503, retryable=False))))  # fmt: skip
            return
        try:
            io = await asyncio.wait_for(
                pool.connect(target, lambda: UpstreamProtocol(pool, Upstream(target.key), guard)),
                target.connect_timeout,
            )
        except TimeoutError:
            failure = ConnectFailure("connect_timeout", f"upstream connect timeout: {where}", 504)
        except OSError as e:  # ssl.SSLError and a rejected peer identity are OSErrors
            why = e.strerror or type(e).__name__
            tls = isinstance(e, ssl.SSLError | UpstreamIdentityRejected)
            failure = ConnectFailure("connect_failed", f"upstream unreachable: {where}: {why}", retryable=not tls)
        except BaseException:
            if guard is not None:
                guard.breaker.release_connection()
            raise
        else:
            if self.closed:
                io.upstream.keep_alive = True
                pool.release(io.upstream)
                return
            io.owner = self
            self.run(self.core.handle(ev.UpstreamConnected(attempt, io.upstream, False)))
            return
        if guard is not None:
            guard.breaker.release_connection()  # no connection was made
        if not self.closed:
            self.run(self.core.handle(ev.UpstreamConnectFailed(attempt, failure)))


class RefuseHttp(asyncio.Protocol):
    """A connection over a listener's cap: ``503`` with ``connection: close``, then closed."""

    ANSWER = local_response(503, "too many connections to this sidecar, try again", close=True)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cast(asyncio.Transport, transport).write(self.ANSWER)
        transport.close()


__all__ = ["HttpServerProtocol", "RefuseHttp", "UpstreamProtocol"]
