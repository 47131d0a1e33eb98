"""HTTP/2 upstream connections: one multiplexed connection per peer, many calls on it.

``H2Upstreams.open_call`` gives a call a stream on a connection to its target: an
existing connection to the same ``PoolKey`` with room for another stream (the peer's
SETTINGS_MAX_CONCURRENT_STREAMS, no GOAWAY), else a new one.  To a peer sidecar the
connection is opened by ``UpstreamPool.open`` (mTLS with the endpoint's identity checked,
the PROXY v2 header inside TLS) with ALPN ``h2``; to an app it is h2c (prior knowledge).
A connection that received a GOAWAY takes no new calls and closes once its streams are
done; ``goaway_all`` sends GOAWAY on every connection (config change, shutdown) and the
calls in flight finish.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Protocol, cast

from proxy.http2.connection import CANCEL, Http2Connection, Http2ProtocolError, Role
from proxy.http2.events import Body, Ended, GoAway, Informational, ResponseStarted, StreamReset, Trailers, Writable
from proxy.http2.messages import Message
from proxy.targets import PoolKey, Target

if TYPE_CHECKING:
    from proxy.upstream import UpstreamPool

logger = logging.getLogger(__name__)


class CallSink(Protocol):
    """The downstream half of a call: what the upstream stream reports to."""

    def up_response(self, message: Message, ended: bool) -> None: ...
    def up_body(self, data: bytes, flow: int) -> None: ...
    def up_trailers(self, trailers: list[tuple[bytes, bytes]]) -> None: ...
    def up_end(self) -> None: ...
    def up_reset(self, code: int) -> None: ...
    def up_writable(self) -> None: ...


class H2Client(asyncio.Protocol):
    """One upstream HTTP/2 connection (client role)."""

    def __init__(self, key: PoolKey, owner: H2Upstreams) -> None:
        self.key = key
        self.owner = owner
        self.conn = Http2Connection(Role.CLIENT)
        self.transport: asyncio.Transport | None = None
        self.sinks: dict[int, CallSink] = {}
        self.lost = False
        self._flush_pending = False
        self.early: list[bytes] | None = []  # bytes the peer sent before our preface went out (None: begun)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def begin(self) -> None:
        """Send the preface (after any PROXY header the opener wrote)."""
        self.conn.start()
        self._write_out()
        early, self.early = self.early, None
        if early:
            self.data_received(b"".join(early))

    def flush(self) -> None:
        """Write what the connection has queued: once per loop iteration (frames of many streams, one write)."""
        if not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_soon(self._write_out)

    def _write_out(self) -> None:
        self._flush_pending = False
        out = self.conn.outgoing()
        if out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(out)

    @property
    def usable(self) -> bool:
        return not self.lost and self.conn.can_open()

    def open(self, message: Message, sink: CallSink, *, end: bool) -> int:
        sid = self.conn.open_stream(message, end=end)
        self.sinks[sid] = sink
        self.flush()
        return sid

    def data_received(self, data: bytes) -> None:
        if self.early is not None:  # a server that speaks first (its SETTINGS) before our preface
            self.early.append(data)
            return
        try:
            events = self.conn.receive(data)
        except Http2ProtocolError as e:
            logger.info("upstream %s: HTTP/2 protocol error: %s", self.key, e)
            self._write_out()
            self._fail_all()
            if self.transport is not None:
                self.transport.close()
            return
        try:
            for ev in events:
                self._dispatch(ev)
        except Exception:
            logger.exception("upstream %s: error while relaying", self.key)
        self.flush()
        self._maybe_done()

    def _dispatch(self, ev: object) -> None:
        if isinstance(ev, GoAway):
            self.owner.forget(self)
            for sid in [s for s in self.sinks if s > ev.last_stream_id]:
                self.sinks.pop(sid).up_reset(CANCEL)  # never processed by the peer
            return
        sid = getattr(ev, "stream_id", 0)
        sink = self.sinks.get(sid)
        if sink is None:
            return
        if isinstance(ev, ResponseStarted):
            sink.up_response(ev.message, ev.ended)
        elif isinstance(ev, Body):
            sink.up_body(ev.data, ev.flow_length)
        elif isinstance(ev, Trailers):
            sink.up_trailers(ev.headers)
        elif isinstance(ev, Ended):
            self.sinks.pop(sid, None)
            sink.up_end()
        elif isinstance(ev, StreamReset):
            self.sinks.pop(sid, None)
            sink.up_reset(ev.error_code)
        elif isinstance(ev, Writable):
            sink.up_writable()
        elif isinstance(ev, Informational):
            pass

    def send_body(self, sid: int, data: bytes, *, end: bool = False) -> bool:
        ok = self.conn.send_body(sid, data, end=end)
        self.flush()
        return ok

    def send_trailers(self, sid: int, trailers: list[tuple[bytes, bytes]]) -> None:
        self.conn.send_trailers(sid, trailers)
        self.flush()

    def consumed(self, sid: int, size: int) -> None:
        self.conn.consumed(sid, size)
        self.flush()

    def cancel(self, sid: int) -> None:
        self.sinks.pop(sid, None)
        self.conn.reset(sid, CANCEL)
        self.flush()
        self._maybe_done()

    def goaway(self) -> None:
        self.conn.goaway()
        self.flush()
        self._maybe_done()

    def _maybe_done(self) -> None:
        conn, transport = self.conn, self.transport
        over = conn.going_away or conn.peer_going_away or conn.closed
        if over and not self.sinks and transport is not None and not transport.is_closing():
            self._write_out()
            transport.close()

    def _fail_all(self) -> None:
        sinks, self.sinks = self.sinks, {}
        for sink in sinks.values():
            sink.up_reset(CANCEL)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.owner.forget(self)
        self._fail_all()


class H2Upstreams:
    """Multiplexed HTTP/2 connections per upstream key (see the module docstring)."""

    def __init__(self, pool: UpstreamPool) -> None:
        self.pool = pool
        self.conns: dict[PoolKey, list[H2Client]] = {}
        self._connecting: dict[PoolKey, asyncio.Future[H2Client]] = {}
        self.opened = 0

    def ready(self, key: PoolKey) -> H2Client | None:
        for client in self.conns.get(key, ()):
            if client.usable:
                return client
        return None

    async def connect(self, target: Target) -> H2Client:
        """A connection with room for one more stream (shared with concurrent callers while it connects)."""
        key = target.key
        found = self.ready(key)
        if found is not None:
            return found
        pending = self._connecting.get(key)
        if pending is not None:
            client = await asyncio.shield(pending)
            if client.usable:
                return client
        loop = asyncio.get_running_loop()
        future: asyncio.Future[H2Client] = loop.create_future()
        self._connecting[key] = future
        try:
            opened = await asyncio.wait_for(
                self.pool.open(target, lambda: H2Client(key, self), alpn=("h2",)), target.connect_timeout
            )
            client = opened.protocol
            client.begin()
            self.conns.setdefault(key, []).append(client)
            self.opened += 1
            future.set_result(client)
            return client
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # retrieved: no warning when nobody else waited
            raise
        finally:
            if self._connecting.get(key) is future:
                del self._connecting[key]

    def forget(self, client: H2Client) -> None:
        conns = self.conns.get(client.key)
        if conns and client in conns:
            conns.remove(client)
            if not conns:
                del self.conns[client.key]

    def goaway_all(self) -> None:
        for conns in list(self.conns.values()):
            for client in list(conns):
                self.forget(client)
                client.goaway()

    @property
    def connections(self) -> int:
        return sum(len(c) for c in self.conns.values())


__all__ = ["CallSink", "H2Client", "H2Upstreams"]
