"""The admin listener: ``/ready``, ``/live``, ``/metrics`` and ``/config`` (asyncio + httptools).

Off the hot path and deliberately small (a web framework costs an idle sidecar ~15 MB):

* one request per connection, answered with ``Connection: close``;
* ``GET`` (and ``HEAD``) only: another method gets **405** with ``Allow: GET, HEAD``; an
  unknown path **404**; a request that httptools cannot parse **400**;
* the request (head and body) is bounded by ``MAX_REQUEST`` bytes (**431** past it) and
  must arrive within ``REQUEST_TIMEOUT`` seconds, else the connection is closed;
* ``/ready``: 200 once a config is active (503 before, or while ``not_ready`` names a
  reason, e.g. no workload certificate yet); ``/live``: 200; ``/metrics``: the Prometheus
  text format rendered by ``proxy.exposition``; ``/config``: the active config as JSON
  (``{"version", "config", "problems"}``; 503 with nulls before the first).
* debug views (``/config``: it names every service, endpoint and identity this workload
  may reach) answer only a client on a loopback address (**403** otherwise), so the
  listener can be bound to the pod's address for Prometheus to scrape ``/metrics`` and
  for the kubelet's probes without showing the mesh's layout to the network.  A client
  whose address is the listener's own (a connection from inside the pod's network
  namespace, as the local runtime's in ``--isolation netns``) counts as local too.
* ``/tap?<filters>&rate=N`` (a debug view): a live ndjson stream of finished requests
  (``proxy.tapstream``, ``proxy.tap``); the connection stays open until the client closes it.

The **tap listener** (``start_tap_listener``, ``smi proxy --tap ADDR:PORT``) serves the same
``/tap`` on the pod's address for the cluster's metrics API: mutual TLS with the workload
certificate (a client without a mesh certificate fails the handshake), and only a client
whose verified SPIFFE id is one of ``--tap-identity`` (the metrics API's ServiceAccount) is
answered; any other mesh identity gets **403**, any other path **404**.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Final, cast

import httptools

from proxy.exposition import CONTENT_TYPE as METRICS_CONTENT_TYPE
from proxy.exposition import Registry
from proxy.holder import ConfigHolder

if TYPE_CHECKING:
    from proxy.identity.switching import TlsContexts
    from proxy.tap import TapHub
    from proxy.tapstream import TapStream
from smi.proxyconfig import encode

logger = logging.getLogger(__name__)

MAX_REQUEST: Final = 16 * 1024
LOCAL_ONLY: Final = frozenset({"/config", "/tap"})  # debug views: loopback clients only
REQUEST_TIMEOUT: Final = 10.0
TEXT: Final = "text/plain; charset=utf-8"
JSON: Final = "application/json; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    content_type: str = TEXT


def text(status: int, message: str) -> Answer:
    return Answer(status, message.encode())


class AdminEndpoints:
    """What each path answers; independent of the transport (and tested without one)."""

    def __init__(
        self,
        *,
        holder: ConfigHolder,
        registry: Registry,
        not_ready: Callable[[], str | None] | None = None,
        tap: TapHub | None = None,
    ) -> None:
        self.tap = tap
        self.holder = holder
        self.registry = registry
        self.not_ready = not_ready
        self.paths: dict[str, Callable[[], Answer]] = {
            "/ready": self.ready,
            "/live": self.live,
            "/metrics": self.metrics,
            "/config": self.config,
            "/tap": self.tap_unavailable,  # a GET with a hub streams instead (AdminProtocol.start_tap)
        }

    def ready(self) -> Answer:
        reason = self.not_ready() if self.not_ready is not None else None
        if reason is not None:
            return text(503, f"not ready: {reason}\n")
        current = self.holder.current
        if current is None:
            return text(503, "not ready: no config from the control plane yet\n")
        return text(200, f"ready: config version {current.version}\n")

    def live(self) -> Answer:
        return text(200, "live\n")

    def metrics(self) -> Answer:
        return Answer(200, self.registry.render(), METRICS_CONTENT_TYPE)

    def config(self) -> Answer:
        current = self.holder.current
        if current is None:
            return Answer(503, json.dumps({"version": None, "config": None}).encode(), JSON)
        document = {"version": current.version, "config": encode(current.config), "problems": current.problems}
        return Answer(200, json.dumps(document).encode(), JSON)

    def tap_unavailable(self) -> Answer:
        return text(503 if self.tap is None else 200, "tap: GET streams ndjson\n" if self.tap else "no tap here\n")

    def answer(self, method: str, path: str, *, local: bool = True) -> tuple[Answer, dict[str, str]]:
        """(answer, extra headers) for one request; ``local``: the client is on a loopback address."""
        handler = self.paths.get(path)
        if handler is None:
            return text(404, f"not found: {path}\n"), {}
        if path in LOCAL_ONLY and not local:
            return text(403, f"forbidden: {path} answers only on localhost\n"), {}
        if method not in ("GET", "HEAD"):
            return text(405, f"method not allowed: {method}\n"), {"Allow": "GET, HEAD"}
        try:
            return handler(), {}
        except Exception:
            logger.exception("admin: %s failed", path)
            return text(500, "internal error\n"), {}


def encode_response(answer: Answer, *, extra: dict[str, str] | None = None, head_only: bool = False) -> bytes:
    try:
        reason = HTTPStatus(answer.status).phrase
    except ValueError:
        reason = ""
    lines = [
        f"HTTP/1.1 {answer.status} {reason}",
        f"Content-Type: {answer.content_type}",
        f"Content-Length: {len(answer.body)}",
        "Connection: close",
        *(f"{k}: {v}" for k, v in (extra or {}).items()),
    ]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + answer.body


class AdminProtocol(asyncio.Protocol):
    """One connection: read one request (bounded in size and time), answer, close."""

    def __init__(self, endpoints: AdminEndpoints) -> None:
        self.endpoints = endpoints
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.received = 0
        self.done = False
        self.local = False
        self.timer: asyncio.TimerHandle | None = None
        self.stream: TapStream | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        peer = transport.get_extra_info("peername")
        own = transport.get_extra_info("sockname")
        self.local = _is_loopback(peer) or _same_host(peer, own)
        self.timer = asyncio.get_running_loop().call_later(REQUEST_TIMEOUT, self.transport.abort)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.stream is not None:
            self.stream.close()

    def data_received(self, data: bytes) -> None:
        if self.done:
            return
        self.received += len(data)
        if self.received > MAX_REQUEST:
            # Half-close and keep discarding input until the client closes (or the timer
            # fires): closing with unread input would reset the connection and lose the answer.
            self.reply(text(431, f"request larger than {MAX_REQUEST} bytes\n"), drain=True)
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.reply(text(400, "upgrades are not supported\n"))
        except httptools.HttpParserError as e:
            self.reply(text(400, f"bad request: {e}\n"))

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_message_complete(self) -> None:
        if self.done:
            return
        method = self.parser.get_method().decode("latin-1")
        try:
            url = httptools.parse_url(self.url)
            path = url.path.decode("latin-1")
        except httptools.HttpParserInvalidURLError:
            self.reply(text(400, "bad request target\n"))
            return
        if path == "/tap" and method == "GET" and self.local and self.endpoints.tap is not None:
            self.start_tap(self.endpoints.tap, (url.query or b"").decode("latin-1"))
            return
        answer, extra = self.endpoints.answer(method, path, local=self.local)
        self.reply(answer, extra=extra, head_only=method == "HEAD")

    def start_tap(self, hub: TapHub, query: str) -> None:
        from proxy.tap import TapFilterError  # imported on the first tap only: the admin stays light
        from proxy.tapstream import TapStream, parse_query

        try:
            tap_filter, rate = parse_query(query)
        except TapFilterError as exc:
            self.reply(text(400, f"bad tap request: {exc}\n"))
            return
        self.done = True
        if self.timer is not None:
            self.timer.cancel()  # a stream stays open as long as its reader wants
            self.timer = None
        if self.transport is not None and not self.transport.is_closing():
            self.stream = TapStream(hub, self.transport, tap_filter, rate)

    def reply(
        self, answer: Answer, *, extra: dict[str, str] | None = None, head_only: bool = False, drain: bool = False
    ) -> None:
        self.done = True
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(encode_response(answer, extra=extra, head_only=head_only))
        if drain and self.transport.can_write_eof():
            self.transport.write_eof()
        else:
            self.transport.close()


class TapTlsProtocol(AdminProtocol):
    """One connection to the tap listener: ``/tap`` only, and only for an allowed mesh identity."""

    def __init__(self, endpoints: AdminEndpoints, allowed: frozenset[str]) -> None:
        super().__init__(endpoints)
        self.allowed = allowed
        self.peer: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        from proxy.identity.contexts import peer_identity

        super().connection_made(transport)
        self.peer = peer_identity(transport.get_extra_info("ssl_object"))
        self.local = self.peer is not None and self.peer in self.allowed

    def on_message_complete(self) -> None:
        if self.done:
            return
        path = self.url.split(b"?", 1)[0].decode("latin-1")
        if path != "/tap":
            self.reply(text(404, f"not found: {path} (this listener serves /tap only)\n"))
        elif not self.local:
            self.reply(text(403, f"forbidden: {self.peer or 'an unidentified client'} may not tap this workload\n"))
        else:
            super().on_message_complete()


async def start_tap_listener(
    host: str, port: int, *, hub: TapHub, holder: ConfigHolder, registry: Registry, contexts: TlsContexts,
    allowed: frozenset[str],
) -> asyncio.AbstractServer:  # fmt: skip
    """The mTLS tap listener on ``host:port`` (0: any free port); the caller closes it."""
    endpoints = AdminEndpoints(holder=holder, registry=registry, tap=hub)
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: TapTlsProtocol(endpoints, allowed), host, port, reuse_address=True, ssl=contexts.listening
    )


def _is_loopback(peer: object) -> bool:
    if not isinstance(peer, tuple) or not peer:
        return False
    try:
        address = ipaddress.ip_address(str(peer[0]).split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _same_host(peer: object, own: object) -> bool:
    return isinstance(peer, tuple) and isinstance(own, tuple) and bool(peer) and bool(own) and peer[0] == own[0]


async def start_admin(
    host: str,
    port: int,
    *,
    holder: ConfigHolder,
    registry: Registry,
    not_ready: Callable[[], str | None] | None = None,
    tap: TapHub | None = None,
) -> asyncio.AbstractServer:
    """Listen on ``host:port`` (0: any free port); the caller closes the returned server."""
    endpoints = AdminEndpoints(holder=holder, registry=registry, not_ready=not_ready, tap=tap)
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: AdminProtocol(endpoints), host, port, reuse_address=True)
