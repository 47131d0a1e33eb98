"""Upstream HTTP connections and the keep-alive pool.

``UpstreamConnection`` is an ``asyncio.Protocol`` with its own httptools response parser;
while bound to a downstream exchange it forwards every parser event to its ``owner`` (the
``http1.HttpForwarder``).  Idle connections wait in ``UpstreamPool`` per
(address, port, announced port, bind address), and are reused only after a complete
response with keep-alive.  An idle connection that the server closes leaves the pool.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, cast

import httptools

from proxy import proxyproto
from proxy.targets import PoolKey, Target

if TYPE_CHECKING:
    from proxy.http1 import HttpForwarder

logger = logging.getLogger(__name__)


class UpstreamConnection(asyncio.Protocol):
    __slots__ = (
        "close_delimited",
        "closed",
        "headers",
        "informational",
        "keep_alive",
        "key",
        "owner",
        "parser",
        "pool",
        "reason",
        "served",
        "transport",
        "tunnel",
    )

    def __init__(self, pool: UpstreamPool, key: PoolKey) -> None:
        self.pool = pool
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.owner: HttpForwarder | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.reason = b""
        self.keep_alive = False
        self.close_delimited = False
        self.informational = False
        self.closed = False
        self.tunnel = False
        self.served = 0  # responses completed on this connection

    # -- transport events
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        owner = self.owner
        if owner is None:
            self.close()  # a response nobody asked for: the connection is out of sync
            return
        if self.tunnel:
            owner.tunnel_from_upstream(data)
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as e:
            owner.upstream_upgraded(self, data[int(e.args[0]) :])
        except httptools.HttpParserCallbackError:
            logger.exception("upstream %s: error while relaying a response", self.key)
            owner.upstream_broken(self, "proxy_error")
        except httptools.HttpParserError as e:
            logger.info("upstream %s: malformed response: %s", self.key, e)
            owner.upstream_broken(self, "bad_response")

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        owner = self.owner
        if owner is not None:
            owner.upstream_lost(self)
        else:
            self.pool.discard(self)

    def pause_writing(self) -> None:
        if self.owner is not None:
            self.owner.upstream_write_paused()

    def resume_writing(self) -> None:
        if self.owner is not None:
            self.owner.upstream_write_resumed()

    # -- httptools callbacks
    def on_message_begin(self) -> None:
        self.headers = []
        self.reason = b""

    def on_status(self, status: bytes) -> None:
        self.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        if self.owner is not None:
            self.owner.response_head(self)

    def on_body(self, body: bytes) -> None:
        if self.owner is not None:
            self.owner.response_body(body)

    def on_message_complete(self) -> None:
        if self.informational:
            self.informational = False
            return
        self.served += 1
        if self.owner is not None:
            self.owner.response_complete(self)

    # -- helpers
    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def pause_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def close(self) -> None:
        self.owner = None
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()
        self.pool.discard(self)

    def abort(self) -> None:
        self.owner = None
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.abort()
        self.pool.discard(self)


class UpstreamPool:
    """Idle keep-alive connections per upstream key."""

    def __init__(self, *, max_idle_per_key: int = 64) -> None:
        self.idle: dict[PoolKey, list[UpstreamConnection]] = {}
        self.max_idle_per_key = max_idle_per_key
        self.opened = 0

    def acquire(self, key: PoolKey) -> UpstreamConnection | None:
        conns = self.idle.get(key)
        while conns:
            conn = conns.pop()
            if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                return conn
        return None

    def release(self, conn: UpstreamConnection) -> None:
        conn.owner = None
        if conn.closed or conn.tunnel or not conn.keep_alive:
            conn.close()
            return
        conns = self.idle.setdefault(conn.key, [])
        if len(conns) >= self.max_idle_per_key:
            conn.close()
            return
        conn.resume_reading()
        conns.append(conn)

    def discard(self, conn: UpstreamConnection) -> None:
        conns = self.idle.get(conn.key)
        if conns and conn in conns:
            conns.remove(conn)

    async def connect(self, target: Target) -> UpstreamConnection:
        """Open a new connection (the caller applies the connect timeout); sends the PROXY header."""
        loop = asyncio.get_running_loop()
        key = target.key
        _, conn = await loop.create_connection(
            lambda: UpstreamConnection(self, key),
            target.address,
            target.port,
            local_addr=(target.bind, 0) if target.bind else None,
        )
        self.opened += 1
        if target.announce_port and conn.transport is not None:
            src = conn.transport.get_extra_info("sockname")
            conn.transport.write(
                proxyproto.encode(
                    src_address=src[0], src_port=src[1], dst_address=target.address, dst_port=target.announce_port
                )
            )
        return conn

    def close_all(self) -> None:
        for conns in list(self.idle.values()):
            for conn in list(conns):
                conn.close()
        self.idle.clear()
