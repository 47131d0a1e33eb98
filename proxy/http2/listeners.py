"""Putting HTTP/2 on the sidecar's HTTP listeners: detect the protocol, then hand the socket over.

An HTTP port (outbound listener, an HTTP ``--forward``, an inbound ``http`` or ``http2``
port) accepts both protocols on the same socket.  ``Detecting`` reads the first bytes
(``proxy.sniff.detect``): the HTTP/2 connection preface (h2c with prior knowledge, or
HTTP/2 inside the sidecars' mTLS) starts an :class:`~proxy.http2.server.Http2Server`;
an HTTP/1.1 request line that asks ``Upgrade: h2c`` (without a body) is answered
``101 Switching Protocols`` and served as HTTP/2 stream 1; anything else goes to the
HTTP/1.1 engine as before.  A client that sends nothing within the detection timeout
(a server-speaks-first protocol) is handed to the HTTP/1.1 engine, whose own head
timeout then applies.

On a ``detect`` port (one that declares no protocol) ``Detecting`` is given an ``opaque``
protocol too: then a TLS ClientHello (the app's own TLS), any bytes that are no HTTP, and
a client silent for the detection timeout (a server-speaks-first protocol) go there.

``Http2Hub`` is one per proxy: the multiplexed upstream connections and every live
HTTP/2 server connection, so a config change or shutdown can send GOAWAY everywhere
(streams in flight finish).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, cast

import httptools

from proxy.admission import ConnectionGate
from proxy.headers import split_target
from proxy.http2.messages import from_http1_request
from proxy.sniff import DETECT_TIMEOUT, Detected, detect
from proxy.targets import Router
from proxy.upstream import UpstreamPool

if TYPE_CHECKING:
    from proxy.http2.calls import Upstreams
    from proxy.http2.front1 import Http1Front
    from proxy.http2.server import Http2Server

logger = logging.getLogger(__name__)

_MAX_UPGRADE_HEAD: Final = 16 * 1024
_SWITCHING: Final = b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: h2c\r\n\r\n"


class Http2Hub:
    """The proxy's HTTP/2 state: upstream connections and the downstream servers (for GOAWAY)."""

    def __init__(self, pool: UpstreamPool) -> None:
        self.pool = pool
        self._upstreams: Upstreams | None = None
        self.servers: set[Http2Server] = set()
        self.fronts: set[Http1Front] = set()
        self._idle: asyncio.Event | None = None  # set by call_finished while drain waits

    @property
    def upstreams(self) -> Upstreams:
        """Made on first use: ``h2`` (~3 MB) is imported only by a sidecar that sees HTTP/2 traffic."""
        if self._upstreams is None:
            from proxy.http2.calls import Upstreams

            self._upstreams = Upstreams(self.pool)
        return self._upstreams

    def server(self, router: Router, *, app_h2: Callable[[], bool], peer: str = "",
               gate: ConnectionGate | None = None, follow_caller: bool = False) -> Http2Server:  # fmt: skip
        from proxy.http2.server import Http2Server

        srv = Http2Server(router=router, upstreams=self.upstreams, app_h2=app_h2, peer=peer,
                          on_close=self._server_closed, on_call_done=self.call_finished, gate=gate,
                          follow_caller=follow_caller)  # fmt: skip
        self.servers.add(srv)
        return srv

    def front(self, router: Router, *, app_h2: Callable[[], bool], peer: str = "",
              gate: ConnectionGate | None = None) -> Http1Front:  # fmt: skip
        """An HTTP/1.1 downstream connection whose calls go upstream as HTTP/2 (``proxy.http2.front1``)."""
        from proxy.http2.front1 import Http1Front

        front = Http1Front(router=router, upstreams=self.upstreams, app_h2=app_h2, peer=peer,
                           on_close=self._front_closed, on_call_done=self.call_finished, gate=gate)  # fmt: skip
        self.fronts.add(front)
        return front

    def _server_closed(self, srv: Http2Server) -> None:
        self.servers.discard(srv)
        self.call_finished()

    def _front_closed(self, front: Http1Front) -> None:
        self.fronts.discard(front)
        self.call_finished()

    @property
    def calls_in_flight(self) -> int:
        return sum(len(s.calls) for s in self.servers) + sum(len(f.calls) for f in self.fronts)

    async def drain(self, limit: float) -> int:
        """After ``goaway``: wait (at most ``limit`` seconds) for the calls in flight; returns how many are left."""
        if self.calls_in_flight:
            self._idle = asyncio.Event()
            try:
                await asyncio.wait_for(self._idle.wait(), limit)
            except TimeoutError:
                pass
            finally:
                self._idle = None
        return self.calls_in_flight

    def call_finished(self) -> None:
        """Told by a server or front when one of its calls ends (wakes ``drain``)."""
        if self._idle is not None and not self.calls_in_flight:
            self._idle.set()

    def goaway(self) -> None:
        """Graceful GOAWAY on every HTTP/2 connection, both directions."""
        for srv in list(self.servers):
            srv.goaway()
        if self._upstreams is not None:
            self._upstreams.h2.goaway_all()

    def config_changed(self, _: object) -> None:
        """Upstream connections are re-made for the new config; calls in flight finish on the old ones."""
        if self._upstreams is not None:
            self._upstreams.h2.goaway_all()


class _UpgradeProbe:
    """httptools callbacks collecting one request head (to see whether it asks for h2c)."""

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.done = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.done = True


def h2c_upgrade(data: bytes) -> tuple[bytes, bytes, list[tuple[bytes, bytes]], bytes] | None:
    """(method, target, headers, HTTP2-Settings) of a bodiless ``Upgrade: h2c`` request head in ``data``."""
    end = data.find(b"\r\n\r\n")
    if end < 0 or b"h2c" not in data[:end].lower():
        return None
    probe = _UpgradeProbe()
    parser = httptools.HttpRequestParser(probe)
    try:
        parser.feed_data(data[: end + 4])
    except httptools.HttpParserUpgrade:
        pass
    except httptools.HttpParserError:
        return None
    if not probe.done:
        return None
    fields = {n.lower(): v for n, v in probe.headers}
    upgrade = fields.get(b"upgrade", b"").lower().replace(b" ", b"").split(b",")
    settings = fields.get(b"http2-settings")
    has_body = fields.get(b"content-length", b"0").strip() != b"0" or b"transfer-encoding" in fields
    if b"h2c" not in upgrade or settings is None or has_body or len(data) != end + 4:
        return None
    return parser.get_method(), probe.url, probe.headers, settings


class Detecting(asyncio.Protocol):
    """The first protocol of an HTTP port's connection: sniff, then hand the socket over.

    ``http1``/``http2`` make the protocol to hand over to (an HTTP/1.1 engine or front, an
    ``Http2Server``); ``opaque`` (a ``detect`` port) the one for everything that is no HTTP.
    """

    def __init__(
        self, *, http1: Callable[[], asyncio.Protocol], http2: Callable[[], Http2Server],
        timeout: float = DETECT_TIMEOUT, opaque: Callable[[], asyncio.Protocol] | None = None,
    ) -> None:  # fmt: skip
        self.http1 = http1
        self.http2 = http2
        self.opaque = opaque
        self.timeout = timeout
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.timer = asyncio.get_event_loop().call_later(self.timeout, self._silent)

    def _silent(self) -> None:
        self.timer = None
        self._hand_over(self.opaque() if self.opaque is not None else self.http1())

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        try:
            found = detect(self.buffer)
            if found is None:
                return
            if self.opaque is not None and found in (Detected.TLS, Detected.OPAQUE):
                self._hand_over(self.opaque())
                return
            if found is Detected.HTTP2:
                self._hand_over(self.http2())
                return
            if found is Detected.HTTP1 and b"h2c" in self.buffer[:_MAX_UPGRADE_HEAD].lower():
                if b"\r\n\r\n" not in self.buffer and len(self.buffer) < _MAX_UPGRADE_HEAD:
                    return  # the head is not complete yet
                upgrade = h2c_upgrade(self.buffer)
                if upgrade is not None:
                    self._upgrade(*upgrade)
                    return
            self._hand_over(self.http1())
        except Exception:
            logger.exception("cannot detect the protocol of a connection")
            if self.transport is not None:
                self.transport.abort()

    def _upgrade(self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], settings: bytes) -> None:
        assert self.transport is not None
        self.transport.write(_SWITCHING)
        server = self.http2()
        authority, path = split_target(target)
        server.upgrade = (settings, from_http1_request(method, path, headers, authority=authority))
        self.buffer = b""
        self._hand_over(server)

    def _hand_over(self, protocol: asyncio.Protocol) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        rest, self.buffer = self.buffer, b""
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if rest:
            protocol.data_received(rest)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


__all__ = ["DETECT_TIMEOUT", "Detecting", "Http2Hub", "h2c_upgrade"]
