"""Accepting connections on a sidecar's inbound port: mTLS, or plain text when permissive.

The listener accepts raw sockets and decides per connection, before any byte is read:
it peeks at the first byte (``MSG_PEEK``); ``0x16`` starts a TLS handshake record.

* TLS: the handshake runs with the current server context (client certificate required
  and verified against the trust bundle).  A failed handshake is refused and counted by
  reason: ``expired_certificate``, ``unknown_ca``, ``no_client_certificate`` or
  ``handshake_failed``.  The peer's SPIFFE id is then checked with the optional
  ``authorize`` callback (``identity_denied`` when it says no).  A *resumed* handshake whose
  client certificate had expired when its ClientHello arrived is refused
  (``expired_resumption``): resumption never outlives the certificate.  (The arrival time,
  not the handshake's end: a handshake stalled by a busy event loop does not turn a session
  offered in time into a refusal.)
* plain text: refused in strict mode (``plaintext_refused``); accepted in permissive
  mode, for migration, and counted as ``plaintext_accepted`` so metrics show it.

Counts are kept in :class:`InboundStats` (a ``Counter`` the proxy exports as metrics).
After TLS the mesh client sends its PROXY protocol v2 header *inside* the TLS stream.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from proxy.identity.contexts import peer_identity, refuse_expired_resumption
from proxy.identity.switching import TlsContexts

logger = logging.getLogger(__name__)

TLS_HANDSHAKE_RECORD = 0x16


class Mode(enum.Enum):
    STRICT = "strict"
    PERMISSIVE = "permissive"


@dataclass
class InboundStats:
    counts: collections.Counter[str] = field(default_factory=collections.Counter)

    def count(self, what: str) -> None:
        self.counts[what] += 1


@dataclass(frozen=True)
class InboundConnection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    peer_identity: str | None  # None: plain text (permissive mode only)

    @property
    def tls(self) -> bool:
        return self.peer_identity is not None


Authorize = Callable[[str], bool]
Handler = Callable[[InboundConnection], Awaitable[None]]


def refusal_reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        message = (exc.verify_message or "").lower()
        if "expired" in message:
            return "expired_certificate"
        if "issuer" in message or "self-signed" in message or "self signed" in message:
            return "unknown_ca"
        return "bad_certificate"
    if isinstance(exc, ssl.SSLError) and "PEER_DID_NOT_RETURN_A_CERTIFICATE" in str(exc.reason):
        return "no_client_certificate"
    if isinstance(exc, TimeoutError):
        return "handshake_timeout"
    return "handshake_failed"


async def _first_byte(sock: socket.socket, wait: float) -> bytes:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(sock.fileno(), readable)
    try:
        await asyncio.wait_for(ready, wait)
    finally:
        loop.remove_reader(sock.fileno())
    return sock.recv(1, socket.MSG_PEEK)


async def upgrade_accepted(
    sock: socket.socket,
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    *,
    contexts: TlsContexts,
    mode: Mode = Mode.STRICT,
    stats: InboundStats,
    authorize: Authorize | None = None,
    handshake_timeout: float = 10.0,
) -> tuple[asyncio.Transport, asyncio.BaseProtocol, str | None] | None:
    """Upgrade one accepted socket to a transport for ``protocol_factory()``.

    Returns ``(transport, protocol, peer identity)`` (identity None: plain text, permissive
    mode only), or None when refused: the socket is closed and the refusal counted.  The
    protocol's ``connection_made`` runs after the handshake, so it can read the identity
    with ``peer_identity(transport.get_extra_info("ssl_object"))``.
    """
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    try:
        first = await _first_byte(sock, handshake_timeout)
        hello_at = time.time()  # when the ClientHello (and any session it offers) arrived
        if not first:
            sock.close()
            return None
        if first[0] != TLS_HANDSHAKE_RECORD:
            if mode is Mode.STRICT:
                stats.count("plaintext_refused")
                sock.close()
                return None
            transport, protocol = await loop.connect_accepted_socket(protocol_factory, sock)
            stats.count("plaintext_accepted")
            return transport, protocol, None
        transport, protocol = await loop.connect_accepted_socket(
            protocol_factory, sock, ssl=contexts.server, ssl_handshake_timeout=handshake_timeout
        )
    except (OSError, TimeoutError) as e:
        reason = refusal_reason(e)
        stats.count(reason)
        logger.info("Refused an inbound connection: %s: %s", reason, e)
        sock.close()
        return None
    ssl_object = transport.get_extra_info("ssl_object")
    if refuse_expired_resumption(ssl_object, now=hello_at):
        stats.count("expired_resumption")
        logger.info("Refused an inbound connection: resumed a session whose client certificate has expired")
        transport.abort()
        return None
    peer = peer_identity(ssl_object)
    if peer is None or (authorize is not None and not authorize(peer)):
        stats.count("identity_denied")
        logger.info("Refused an inbound connection from %s: not authorized", peer)
        transport.abort()
        return None
    stats.count("mtls_accepted")
    return transport, protocol, peer


async def accept_inbound(
    sock: socket.socket,
    *,
    contexts: TlsContexts,
    mode: Mode = Mode.STRICT,
    stats: InboundStats,
    authorize: Authorize | None = None,
    handshake_timeout: float = 10.0,
) -> InboundConnection | None:
    """:func:`upgrade_accepted` with asyncio streams."""
    reader = asyncio.StreamReader(limit=2**16)
    protocol = asyncio.StreamReaderProtocol(reader)
    upgraded = await upgrade_accepted(
        sock, lambda: protocol, contexts=contexts, mode=mode, stats=stats, authorize=authorize,
        handshake_timeout=handshake_timeout,
    )  # fmt: skip
    if upgraded is None:
        return None
    transport, _, peer = upgraded
    writer = asyncio.StreamWriter(transport, protocol, reader, asyncio.get_running_loop())
    return InboundConnection(reader, writer, peer)


class InboundListener:
    """A listening socket whose connections are upgraded, then served.

    Either ``handler`` (asyncio streams, via :func:`accept_inbound`) or ``protocol_factory``
    (an ``asyncio.Protocol``, via :func:`upgrade_accepted`: the sidecar's inbound acceptor).
    """

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        protocol_factory: Callable[[], asyncio.BaseProtocol] | None = None,
        contexts: TlsContexts,
        mode: Mode = Mode.STRICT,
        stats: InboundStats | None = None,
        authorize: Authorize | None = None,
    ) -> None:
        if (handler is None) == (protocol_factory is None):
            raise TypeError("give exactly one of handler and protocol_factory")
        self._handler = handler
        self._factory = protocol_factory
        self.contexts = contexts
        self.mode = mode
        self.stats = stats or InboundStats()
        self._authorize = authorize
        self._sock: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._sock is not None
        port: int = self._sock.getsockname()[1]
        return port

    async def start(self, host: str, port: int = 0) -> None:
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(512)
        sock.setblocking(False)
        self._sock = sock
        self._accepting = asyncio.create_task(self._accept_forever(), name=f"inbound accept {host}:{self.port}")

    async def _accept_forever(self) -> None:
        assert self._sock is not None
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(self._sock)
            task = asyncio.create_task(self._serve(conn))
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)

    async def _serve(self, conn: socket.socket) -> None:
        if self._factory is not None:
            await upgrade_accepted(
                conn, self._factory, contexts=self.contexts, mode=self.mode, stats=self.stats,
                authorize=self._authorize,
            )  # fmt: skip
            return
        assert self._handler is not None
        accepted = await accept_inbound(
            conn, contexts=self.contexts, mode=self.mode, stats=self.stats, authorize=self._authorize
        )
        if accepted is None:
            return
        try:
            await self._handler(accepted)
        except Exception:
            logger.exception("Inbound handler failed for %s", accepted.peer_identity)
        finally:
            accepted.writer.close()

    async def close(self) -> None:
        tasks = [t for t in (self._accepting, *self._connections) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._sock is not None:
            self._sock.close()
