"""Upstream HTTP connections and the keep-alive pool.

``UpstreamConnection`` is an ``asyncio.Protocol`` with its own httptools response parser;
while bound to a downstream exchange it forwards every parser event to its ``owner`` (the
``http1.HttpForwarder``).  Idle connections wait in ``UpstreamPool`` per
(address, port, announced port, bind address), and are reused only after a complete
response with keep-alive.  An idle connection that the server closes leaves the pool.

Mutual TLS (``UpstreamPool(tls=...)``): a connection to a peer sidecar (a target with an
announced port) is TLS 1.3 with the workload certificate, and the server must prove the
identity the endpoint may run as (``Endpoint.identity``); anything else fails the connect
with :class:`UpstreamIdentityRejected` (an ``OSError``: the request gets a 503 naming the
reason).  The PROXY v2 header is written after the handshake, inside TLS.  A connection
remembers the identity it verified; ``expected`` (set by the proxy from the current
config) lets ``acquire`` drop an idle connection whose peer is no longer the identity the
config expects at that address.  On release the TLS 1.3 session ticket is kept for
resumption of the next new connection to the same peer.

``UpstreamPool.open`` is that connect (plain or mTLS, identity check, PROXY header) for
any protocol: opaque TCP splices (``proxy.tcp``) use it too, so a TCP forward to a meshed
endpoint is mTLS exactly like an HTTP request.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import httptools

from proxy import proxyproto
from proxy.identity.contexts import PeerIdentityRejected, ResumingClientContext, sni_name, verify_peer
from proxy.identity.inbound import refusal_reason
from proxy.targets import PoolKey, Target

if TYPE_CHECKING:
    from proxy.http1 import HttpForwarder
    from proxy.identity.switching import TlsContexts


class UpstreamIdentityRejected(ConnectionError):
    """The peer sidecar proved an identity the endpoint may not run as (or none)."""

    def __init__(self, message: str, *, peer: str | None) -> None:
        super().__init__(errno.EACCES, message)
        self.peer = peer


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
        "peer_identity",
        "pool",
        "reason",
        "remembered",
        "served",
        "tls_context",
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
        self.peer_identity: str | None = None  # the verified SPIFFE id (mTLS only)
        self.tls_context: ResumingClientContext | None = None
        self.remembered = False

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


ExpectedIdentity = Callable[[PoolKey], str | None]
P = TypeVar("P", bound=asyncio.BaseProtocol)


@dataclass(frozen=True, slots=True)
class Opened(Generic[P]):
    """A new upstream connection: its transport and protocol, and what mTLS proved (if used)."""

    transport: asyncio.Transport
    protocol: P
    peer_identity: str | None  # the verified SPIFFE id; None in plain text
    tls_context: ResumingClientContext | None  # for remembering the session ticket; None in plain text


class UpstreamPool:
    """Idle keep-alive connections per upstream key."""

    def __init__(self, *, max_idle_per_key: int = 64, tls: TlsContexts | None = None) -> None:
        self.idle: dict[PoolKey, list[UpstreamConnection]] = {}
        self.max_idle_per_key = max_idle_per_key
        self.opened = 0
        self.tls = tls
        self.expected: ExpectedIdentity | None = None
        self.tls_opened = 0
        self.tls_resumed = 0
        self.tls_failures: collections.Counter[str] = collections.Counter()
        self._alpn_contexts: dict[tuple[str, ...], tuple[object, ResumingClientContext]] = {}

    def acquire(self, key: PoolKey) -> UpstreamConnection | None:
        conns = self.idle.get(key)
        while conns:
            conn = conns.pop()
            if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                if conn.peer_identity is not None and self.expected is not None:
                    wanted = self.expected(key)
                    if wanted is not None and wanted != conn.peer_identity:
                        conn.close()
                        continue
                return conn
        return None

    def release(self, conn: UpstreamConnection) -> None:
        conn.owner = None
        if conn.closed or conn.tunnel or not conn.keep_alive:
            conn.close()
            return
        if conn.tls_context is not None and not conn.remembered and conn.transport is not None:
            conn.remembered = True
            conn.tls_context.remember(conn.transport.get_extra_info("ssl_object"))
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
        """Open a new HTTP upstream connection (the caller applies the connect timeout)."""
        key = target.key
        opened = await self.open(target, lambda: UpstreamConnection(self, key))
        conn = opened.protocol
        conn.peer_identity = opened.peer_identity
        conn.tls_context = opened.tls_context
        self.opened += 1
        return conn

    async def open(self, target: Target, factory: Callable[[], P], *, alpn: tuple[str, ...] = ()) -> Opened[P]:
        """Open a connection to ``target`` the way the mesh does, for any protocol (HTTP or opaque TCP).

        mTLS when the pool has TLS contexts and the target is a peer sidecar (an announced
        port), with the server's identity checked against ``target.endpoint.identity``;
        plain text otherwise.  The PROXY v2 header (for a peer sidecar) is written before
        returning, inside TLS.  The caller applies the connect timeout.  Raises ``OSError``
        (``UpstreamIdentityRejected`` for a wrong peer identity) or ``ssl.SSLError``.
        ``alpn``: the protocols to offer in the TLS handshake (``("h2",)`` for HTTP/2 between sidecars).
        """
        if self.tls is not None and target.announce_port:
            opened = await self._open_tls(target, factory, alpn)
        else:
            loop = asyncio.get_running_loop()
            transport, protocol = await loop.create_connection(
                factory, target.address, target.port, local_addr=(target.bind, 0) if target.bind else None
            )
            opened = Opened(transport, protocol, None, None)
        if target.announce_port:
            src = opened.transport.get_extra_info("sockname")
            opened.transport.write(
                proxyproto.encode(
                    src_address=src[0], src_port=src[1], dst_address=target.address, dst_port=target.announce_port
                )
            )
        return opened

    def _alpn_context(self, alpn: tuple[str, ...]) -> ResumingClientContext:
        """A client context like ``tls.client`` that offers ``alpn`` (rebuilt when the certificate changes)."""
        from proxy.identity.contexts import client_context

        assert self.tls is not None
        key = (alpn, self.tls.generation, id(self.tls.client))
        cached = self._alpn_contexts.get(alpn)
        if cached is None or cached[0] != key:
            context = client_context(self.tls.material)
            context.set_alpn_protocols(list(alpn))
            cached = self._alpn_contexts[alpn] = (key, context)
        return cached[1]

    async def _open_tls(self, target: Target, factory: Callable[[], P], alpn: tuple[str, ...] = ()) -> Opened[P]:
        """mTLS to a peer sidecar; the server must be the endpoint's identity."""
        assert self.tls is not None
        loop = asyncio.get_running_loop()
        context = self._alpn_context(alpn) if alpn else self.tls.client
        try:
            transport, protocol = await loop.create_connection(
                factory,
                target.address,
                target.port,
                ssl=context,
                server_hostname=sni_name(target.address, target.port),
                ssl_handshake_timeout=max(target.connect_timeout, 0.1),
                local_addr=(target.bind, 0) if target.bind else None,
            )
        except ssl.SSLError as e:
            self.tls_failures[refusal_reason(e)] += 1
            raise
        ssl_object: Any = transport.get_extra_info("ssl_object")
        expected = target.endpoint.identity if target.endpoint is not None else ""
        try:
            peer = verify_peer(ssl_object, {expected} if expected else ())
        except PeerIdentityRejected as e:
            self.tls_failures["identity_rejected"] += 1
            transport.abort()
            raise UpstreamIdentityRejected(f"peer identity rejected: {e}", peer=e.peer) from e
        self.tls_opened += 1
        if ssl_object is not None and ssl_object.session_reused:
            self.tls_resumed += 1
        return Opened(transport, protocol, peer, context)

    def close_all(self) -> None:
        for conns in list(self.idle.values()):
            for conn in list(conns):
                conn.close()
        self.idle.clear()
