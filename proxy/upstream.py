"""Upstream connections: the connect (plain or mTLS) and the keep-alive pool.

An HTTP upstream connection is a ``proxy.http.upstreams.Upstream`` (sans-IO parser state)
whose ``io`` is the shell's ``UpstreamProtocol`` (``proxy.httpshell``).  Idle connections
wait in ``UpstreamPool`` per destination endpoint (address, port, announced port, bind
address), across client connections and config versions, and are reused only after a
complete response with keep-alive.  An idle connection that the server closes leaves the
pool; one idle longer than its destination's idle timeout (``Upstream.idle_timeout``, an
UpstreamTrafficPolicy's ``timeouts.idle``), else the pool's ``idle_timeout``, is closed.

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
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast

from proxy import proxyproto
from proxy.http.upstreams import Upstream
from proxy.identity.contexts import PeerIdentityRejected, ResumingClientContext, sni_name, verify_peer
from proxy.identity.inbound import refusal_reason
from proxy.targets import PoolKey, Target

if TYPE_CHECKING:
    from proxy.identity.switching import TlsContexts


_monotonic = time.monotonic
_SWEEP_GAP = 0.25  # sweeps at most this often: connections close up to this much after their idle timeout


class UpstreamIo(Protocol):
    """What the pool needs of an upstream socket (the shell's ``UpstreamProtocol``)."""

    def close(self) -> None: ...

    def resume_reading(self) -> None: ...

    def ssl_object(self) -> Any: ...


class UpstreamIdentityRejected(ConnectionError):
    """The peer sidecar proved an identity the endpoint may not run as (or none)."""

    def __init__(self, message: str, *, peer: str | None) -> None:
        super().__init__(errno.EACCES, message)
        self.peer = peer


logger = logging.getLogger(__name__)


ExpectedIdentity = Callable[[PoolKey], str | None]
P = TypeVar("P", bound=asyncio.BaseProtocol)


class HasUpstream(Protocol):
    upstream: Upstream


H = TypeVar("H", bound=HasUpstream)


@dataclass(frozen=True, slots=True)
class Opened(Generic[P]):
    """A new upstream connection: its transport and protocol, and what mTLS proved (if used)."""

    transport: asyncio.Transport
    protocol: P
    peer_identity: str | None  # the verified SPIFFE id; None in plain text
    tls_context: ResumingClientContext | None  # for remembering the session ticket; None in plain text


class UpstreamPool:
    """Idle keep-alive connections per destination endpoint (``PoolKey``)."""

    def __init__(
        self, *, max_idle_per_key: int = 64, tls: TlsContexts | None = None, idle_timeout: float = 60.0
    ) -> None:
        self.idle: dict[PoolKey, list[Upstream]] = {}
        self.max_idle_per_key = max_idle_per_key
        self.opened = 0
        self.tls = tls
        self.expected: ExpectedIdentity | None = None
        self.tls_opened = 0
        self.tls_resumed = 0
        self.tls_failures: collections.Counter[str] = collections.Counter()
        self.idle_timeout = idle_timeout
        self._sweeper: asyncio.TimerHandle | None = None
        self._sweep_at = 0.0  # when the sweeper runs (time.monotonic); 0: not scheduled
        self._alpn_contexts: dict[tuple[str, ...], tuple[object, ResumingClientContext]] = {}

    def acquire(self, key: PoolKey) -> Upstream | None:
        """An idle connection to ``key`` that is still open and still the expected peer (pure: no I/O)."""
        conns = self.idle.get(key)
        while conns:
            conn = conns.pop()
            if not conn.closed:  # the shell marks a connection closed as soon as it is
                if conn.peer_identity is not None and self.expected is not None:
                    wanted = self.expected(key)
                    if wanted is not None and wanted != conn.peer_identity:
                        self.close(conn)
                        continue
                return conn
        return None

    def release(self, conn: Upstream) -> None:
        conn.sink = None
        io: UpstreamIo = conn.io  # type: ignore[assignment]
        if conn.closed or conn.tunnel or not conn.keep_alive:  # not conn.reusable (inlined: per request)
            self.close(conn)
            return
        context = conn.tls_context
        if context is not None and not conn.remembered:
            conn.remembered = True
            context.remember(io.ssl_object())  # type: ignore[attr-defined]
        conns = self.idle.setdefault(conn.key, [])
        if len(conns) >= self.max_idle_per_key:
            self.close(conn)
            return
        io.resume_reading()
        conns.append(conn)
        now = conn.idle_since = _monotonic()
        timeout = conn.idle_timeout or self.idle_timeout
        if timeout > 0 and (self._sweeper is None or now + timeout < self._sweep_at):
            self._schedule_sweep(now, now + timeout)

    def close(self, conn: Upstream) -> None:
        conn.sink = None
        self.discard(conn)
        io: UpstreamIo = conn.io  # type: ignore[assignment]
        if io is not None:
            io.close()

    def discard(self, conn: Upstream) -> None:
        conns = self.idle.get(conn.key)
        if conns and conn in conns:
            conns.remove(conn)
            if not conns:
                del self.idle[conn.key]

    def _schedule_sweep(self, now: float, at: float) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        self._sweep_at = at
        self._sweeper = asyncio.get_running_loop().call_later(max(0.0, at - now), self._sweep)

    def _sweep(self) -> None:
        """Close the connections idle for their timeout; one timer for the whole pool, at the next expiry."""
        self._sweeper = None
        now = time.monotonic()
        default = self.idle_timeout
        doomed: list[Upstream] = []
        following = 0.0
        for conns in self.idle.values():
            for conn in conns:
                timeout = conn.idle_timeout or default
                if timeout <= 0:
                    continue
                expiry = conn.idle_since + timeout
                if expiry <= now + 0.001:
                    doomed.append(conn)
                elif not following or expiry < following:
                    following = expiry
        for conn in doomed:
            self.close(conn)
        if following:
            self._schedule_sweep(now, max(following, now + _SWEEP_GAP))

    async def connect(self, target: Target, factory: Callable[[], H]) -> H:
        """Open a new HTTP upstream connection (the caller applies the connect timeout).

        ``factory`` makes the socket's protocol (the shell's), which carries the sans-IO ``Upstream``.
        """
        opened = await self.open(target, cast(Callable[[], asyncio.Protocol], factory))
        protocol = cast(H, opened.protocol)
        conn = protocol.upstream
        conn.peer_identity = opened.peer_identity
        conn.tls_context = opened.tls_context
        self.opened += 1
        return protocol

    async def open(
        self, target: Target, factory: Callable[[], P], *, alpn: tuple[str, ...] = (), opaque: bool = False
    ) -> Opened[P]:
        """Open a connection to ``target`` the way the mesh does, for any protocol (HTTP or opaque TCP).

        mTLS when the pool has TLS contexts and the target is a peer sidecar (an announced
        port), with the server's identity checked against ``target.endpoint.identity``;
        plain text otherwise.  The PROXY v2 header (for a peer sidecar) is written before
        returning, inside TLS.  The caller applies the connect timeout.  Raises ``OSError``
        (``UpstreamIdentityRejected`` for a wrong peer identity) or ``ssl.SSLError``.
        ``alpn``: the protocols to offer in the TLS handshake (``("h2",)`` for HTTP/2 between sidecars).
        ``opaque``: tell the peer sidecar (PROXY TLV) that this connection was detected as opaque TCP.
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
            header = proxyproto.encode(
                src_address=src[0],
                src_port=src[1],
                dst_address=target.address,
                dst_port=target.announce_port,
                workload=target.workload_claim,
            )
            opened.transport.write(proxyproto.mark_opaque(header) if opaque else header)
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
                self.close(conn)
        self.idle.clear()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
