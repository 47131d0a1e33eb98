"""Inbound: what other sidecars call.  PROXY header, caller identity, then HTTP or TCP per port.

A connection starts with a PROXY v2 header (sent by the calling sidecar, inside TLS with
mTLS) naming the target port.  A connection without one (e.g. an unmeshed client whose
traffic iptables redirected here in cluster mode) goes to the port it originally dialled
(``SO_ORIGINAL_DST``) when that is an inbound port, else to the only inbound port when
there is exactly one, and is refused otherwise.

The caller's workload: the calling sidecar names its own (``ns/name``) in the PROXY
header (``proxyproto.TLV_WORKLOAD``); it labels the series (``source_workload``) only when
the verified identity backs it (``backed_claim``).  Every series says whether the hop was
mutual TLS (label ``tls``).

The caller's identity: with mTLS, the SPIFFE id of the verified client certificate (the
listener in ``proxy.identity.inbound`` ran the handshake).  Without TLS (mTLS off, or a
plain-text connection accepted in permissive mode) it is looked up from the connection's
source address in ``InboundConfig.peers`` (the socket's peer address, not the header's
claim); an unknown address has no identity and is allowed only in permissive mode.

HTTP ports authorize every request (403 with a short reason, the app never sees it); TCP
ports authorize once at connect (denied: closed).  UDP ports take framed datagram sessions
(``proxy.udp``), authorized once per session by UDPRoute rules.

A ``detect`` port (one that declares no protocol) reads the first bytes after the PROXY
header (``proxy.http2.listeners.Detecting``): HTTP/1.x or HTTP/2 is served and authorized
as on an HTTP port; a TLS ClientHello, other bytes, or a client silent for the detection
timeout is opaque TCP, authorized as on a TCP port (only TCPRoute rules allow it, so a
TrafficTarget with HTTP routes alone lets no opaque bytes through).  When the caller's
sidecar already decided "opaque" (the PROXY header's TLV) the connection is opaque at once.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Final, cast

from proxy import proxyproto
from proxy.admission import ConnectionGate
from proxy.authz import Deny, authorize_connection, authorize_request
from proxy.compiled import PROTOCOL_DETECT, PROTOCOL_HTTP, PROTOCOL_HTTP2, PROTOCOL_TCP, CompiledConfig
from proxy.headers import RequestHead
from proxy.holder import ConfigHolder
from proxy.httpshell import HttpServerProtocol
from proxy.identity.contexts import peer_identity
from proxy.init.origdst import NoOriginalDestination, original_destination
from proxy.limits import DEFAULT_LIMITS, HttpLimits
from proxy.metrics import EdgeStats, Labels, Metrics
from proxy.runtime import bounded_put
from proxy.sniff import DETECT_TIMEOUT
from proxy.targets import LocalReply, Target
from proxy.tcp import Refuse, TcpSplice
from proxy.upstream import UpstreamPool
from smi.proxyconfig import PROTOCOL_UDP

if TYPE_CHECKING:
    from collections.abc import Callable

    from proxy.http2.listeners import Http2Hub
    from proxy.http2.server import Http2Server

logger = logging.getLogger(__name__)

_MAX_PREAMBLE: Final = 1024


def namespace_of(identity: str) -> str:
    """``spiffe://td/ns/<ns>/sa/<sa>`` -> ``<ns>`` ("" when it is not of that shape)."""
    marker = identity.find("/ns/")
    if marker < 0:
        return ""
    rest = identity[marker + 4 :]
    return rest.split("/", 1)[0]


def inbound_labels(
    cc: CompiledConfig | None, identity: str, rule: str = "", *, source: str = "", tls: bool = False
) -> Labels:
    """An inbound edge: the caller (its identity, and its workload ``source`` when its claim was backed)."""
    mtls = "true" if tls else "false"
    if cc is None:
        return ("inbound", namespace_of(identity), source, identity, "", "", "", "", rule, "", mtls)
    node = cc.config.node
    return ("inbound", namespace_of(identity), source, identity, node.namespace, "", node.workload, node.identity,
            rule, "", mtls)  # fmt: skip


_WORKLOAD_NAME: Final = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")  # a DNS-1123 subdomain
MAX_CLAIMS_PER_IDENTITY: Final = 64  # distinct workloads one identity may name (bounds the series a caller adds)


def backed_claim(claim: str, verified: str | None, metrics: Metrics) -> str:
    """The workload a caller's PROXY header claims (``ns/name``), when its verified identity backs it.

    Backed: the caller proved a SPIFFE identity over mTLS, the claim's namespace is that
    identity's namespace (a workload can only claim to be one of its own namespace), the
    name is a Kubernetes object name, and the identity has named at most
    ``MAX_CLAIMS_PER_IDENTITY`` distinct workloads to this sidecar (so a caller cannot grow
    its series without bound).  Any other claim is counted
    (``smi_workload_claims_rejected_total``) and dropped; without a verified identity (plain
    text) nothing backs a claim and it is not used.
    """
    if not claim or not verified:
        return ""
    namespace, _, name = claim.partition("/")
    if namespace == namespace_of(verified) and _WORKLOAD_NAME.fullmatch(name):
        seen = metrics.workload_claims.setdefault(verified, set())
        if name in seen:
            return name
        if len(seen) < MAX_CLAIMS_PER_IDENTITY:
            seen.add(name)
            return name
    metrics.workload_claims_rejected += 1
    return ""


class InboundRouter:
    """Authorizes each request of one inbound HTTP connection and sends it to the app.

    One ``Target`` (with its metrics edge) per (port, caller, allowing rule) is kept in the
    config version's runtime, so an allowed request builds no labels, looks up no edge and
    allocates no Target; the cache goes with the config version (and is bounded).
    """

    def __init__(
        self, *, holder: ConfigHolder, metrics: Metrics, port: int, identity: str, address: str,
        connect_timeout: float, request_timeout: float, source: str = "", tls: bool = False,
    ) -> None:  # fmt: skip
        self.holder = holder
        self.metrics = metrics
        self.port = port
        self.identity = identity
        self.source = source  # the caller's workload (a backed PROXY header claim), "" unknown
        self.tls = tls  # the connection is mutual TLS
        self.address = address
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout

    def _labels(self, cc: CompiledConfig | None, rule: str = "") -> Labels:
        return inbound_labels(cc, self.identity, rule, source=self.source, tls=self.tls)

    def fallback_stats(self) -> EdgeStats:
        return self.metrics.edge(self._labels(self.holder.current))

    def another(self, head: RequestHead, failed: Target, avoid: tuple[Target, ...]) -> Target | None:
        return failed  # the app is the only endpoint: one more try there

    def decide(self, head: RequestHead, authority: bytes | None) -> Target | LocalReply:
        runtime = self.holder.runtime
        if runtime is None:
            return LocalReply(503, "no config from the control plane yet", self.fallback_stats(), "no_config")
        cc = runtime.compiled
        decision = authorize_request(
            identity=self.identity, address=self.address, port=self.port, head=head, inbound=cc.inbound,
            cache=runtime.by_caller,
        )  # fmt: skip
        if isinstance(decision, Deny):
            stats = self.metrics.edge(self._labels(cc))
            return LocalReply(403, f"Forbidden: {decision.reason}", stats, denied=True)
        key = (self.port, self.identity, decision.rule, self.source, self.tls, self.connect_timeout,
               self.request_timeout)  # fmt: skip
        target = runtime.inbound_targets.get(key)
        if target is None:
            stats = self.metrics.edge(self._labels(cc, decision.rule))
            app = cc.inbound.app_address
            target = Target(app, self.port, 0, "", self.connect_timeout, self.request_timeout, stats)
            bounded_put(runtime.inbound_targets, key, target)
        limits = runtime.rate_limits
        if limits is not None:
            wait = limits.check_request(self.port, self.identity)
            if wait is not None:  # RateLimitPolicy: 429 with Retry-After, counted on the caller's edge
                text = f"rate limited: over the RateLimitPolicy of this service; retry after {wait} s"
                return LocalReply(429, text, target.stats, error="rate_limited", headers=b"retry-after: %d\r\n" % wait)
        return target


class InboundAcceptor(asyncio.Protocol):
    """Reads the PROXY header, then hands the connection to an HTTP or TCP protocol."""

    def __init__(
        self, *, holder: ConfigHolder, metrics: Metrics, pool: UpstreamPool,
        connect_timeout: float = 1.0, request_timeout: float = 60.0, limits: HttpLimits = DEFAULT_LIMITS,
        gate: ConnectionGate | None = None, http2: Http2Hub | None = None, detect_timeout: float = DETECT_TIMEOUT,
    ) -> None:  # fmt: skip
        self.gate = gate
        self.detect_timeout = detect_timeout  # a silent client on a detect port: server-speaks-first, opaque
        self.caller_opaque = False  # the caller's sidecar detected opaque TCP (PROXY header TLV)
        self.http2 = http2  # HTTP/2 from peers (and to apps that speak it), detected per connection
        self.holder = holder
        self.metrics = metrics
        self.pool = pool
        self.limits = limits
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.address = ""
        self.peer = ""
        self.verified: str | None = None  # the peer certificate's SPIFFE id (mTLS)
        self.source = ""  # the caller's workload: its PROXY header claim, when ``verified`` backs it

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.address = str(peer[0]) if peer else ""
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self.verified = peer_identity(ssl_object) or ""
        if self.gate is not None:
            self.gate.opened(self)

    def drain(self) -> None:
        """Shutting down before the PROXY header was read: close."""
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.gate is not None:
            self.gate.closed(self)  # closed before it was handed on

    def _original_port(self) -> int | None:
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        if sock is None:
            return None
        try:
            return original_destination(sock)[1]
        except NoOriginalDestination:
            return None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        try:
            self._dispatch()
        except Exception:
            logger.exception("inbound connection from %s: cannot dispatch", self.peer)
            if self.transport is not None:
                self.transport.abort()

    def _refuse(self, reason: str, stats: EdgeStats) -> None:
        stats.error(reason)
        if self.transport is not None:
            self.transport.close()

    def _http(self, router: InboundRouter, *, app_h2: bool) -> asyncio.Protocol | None:
        """HTTP/1.1, or (with ``http2``) whichever of HTTP/1.1 and HTTP/2 the peer speaks (``proxy.http2``)."""
        detected = self._detect(router)
        if detected is not None:
            return detected() if self.caller_opaque else self._detecting(router, opaque=detected)
        hub = self.http2
        if hub is None:
            return HttpServerProtocol(router=router, pool=self.pool, peer=self.peer, limits=self.limits, gate=self.gate)
        from proxy.http2.listeners import Detecting

        def http1() -> asyncio.Protocol:
            if app_h2:  # an HTTP/1.1 caller of an app that speaks HTTP/2: convert
                return hub.front(router, app_h2=lambda: True, peer=self.peer, gate=self.gate)
            return HttpServerProtocol(router=router, pool=self.pool, peer=self.peer, limits=self.limits, gate=self.gate)

        return Detecting(
            http1=http1, http2=lambda: hub.server(router, app_h2=lambda: app_h2, peer=self.peer, gate=self.gate)
        )

    def _labels(self, cc: CompiledConfig | None, identity: str, rule: str = "") -> Labels:
        return inbound_labels(cc, identity, rule, source=self.source, tls=bool(self.verified))

    def _tcp(self, cc: CompiledConfig, identity: str, port: int) -> asyncio.Protocol | None:
        """Opaque TCP to the app when the peer's identity is allowed on ``port``; None when denied."""
        decision = authorize_connection(identity=identity, address=self.address, port=port, inbound=cc.inbound)
        if isinstance(decision, Deny):
            stats = self.metrics.edge(self._labels(cc, identity))
            stats.denied += 1
            logger.info("inbound connection from %s denied: %s", self.peer, decision.reason)
            return None
        stats = self.metrics.edge(self._labels(cc, identity, decision.rule))
        runtime = self.holder.runtime
        limits = runtime.rate_limits if runtime is not None else None
        if limits is not None and not limits.check_connection(port):
            self._refuse("rate_limited", stats)  # RateLimitPolicy tcp.connectionsPerSecond
            return None
        target = Target(cc.inbound.app_address, port, 0, "", self.connect_timeout, self.request_timeout, stats)
        return TcpSplice(target, self.pool, gate=self.gate)

    def _udp(self, cc: CompiledConfig, identity: str, port: int, *, framed: bool) -> asyncio.Protocol | None:
        """Datagrams framed in this stream to the app's UDP port (``proxy.udp``); None when refused."""
        from proxy.udp import inbound_udp

        labels = self._labels(cc, identity)
        return inbound_udp(cc, identity=identity, port=port, framed=framed, metrics=self.metrics,
                           labels=labels, peer=self.peer)  # fmt: skip

    def _detect(self, router: InboundRouter) -> Callable[[], asyncio.Protocol | None] | None:
        """On a detect port: what makes the opaque TCP protocol (TCPRoute rules decide); None on other ports."""
        cc = self.holder.current
        found = cc.inbound.ports.get(router.port) if cc is not None else None
        if found is None or found.protocol != PROTOCOL_DETECT:
            return None

        def opaque() -> asyncio.Protocol | None:
            current = self.holder.current
            return self._tcp(current, router.identity, router.port) if current is not None else None

        return opaque

    def _detecting(self, router: InboundRouter, *, opaque: Callable[[], asyncio.Protocol | None]) -> asyncio.Protocol:
        """A detect port's connection: HTTP/1.1 to the app, HTTP/2 in the caller's protocol, else opaque TCP."""
        hub = self.http2
        if hub is None:
            return HttpServerProtocol(router=router, pool=self.pool, peer=self.peer, limits=self.limits, gate=self.gate)
        from proxy.http2.listeners import Detecting

        def http1() -> asyncio.Protocol:
            return HttpServerProtocol(router=router, pool=self.pool, peer=self.peer, limits=self.limits, gate=self.gate)

        def http2() -> Http2Server:  # the app is called in the protocol the caller spoke (ORIG_PROTO)
            return hub.server(router, app_h2=lambda: True, peer=self.peer, gate=self.gate, follow_caller=True)

        return Detecting(http1=http1, http2=http2, timeout=self.detect_timeout, opaque=lambda: opaque() or Refuse())

    def _dispatch(self) -> None:
        transport = self.transport
        assert transport is not None
        parsed: tuple[proxyproto.ProxyHeader, int] | None = None
        try:
            parsed = proxyproto.decode(self.buffer)
            direct = False
        except proxyproto.ProxyHeaderError:
            direct = True
        if parsed is None and not direct:
            if len(self.buffer) > _MAX_PREAMBLE + 16:
                transport.close()
            return
        cc = self.holder.current
        if cc is None:
            self._refuse("no_config", self.metrics.edge(inbound_labels(None, "", tls=bool(self.verified))))
            return
        identity = self.verified if self.verified is not None else cc.inbound.peers.get(self.address, "")
        inbound_port = cc.inbound.only_port
        rest = self.buffer
        if parsed is not None:
            header, used = parsed
            self.caller_opaque = proxyproto.says_opaque(self.buffer[:used])
            rest = self.buffer[used:]
            if not header.local:
                inbound_port = cc.inbound.ports.get(header.dst_port)
                self.source = backed_claim(header.workload, self.verified, self.metrics)
        else:
            dialled = self._original_port()
            if dialled is not None and dialled in cc.inbound.ports:
                inbound_port = cc.inbound.ports[dialled]
        self.buffer = b""
        if inbound_port is None:
            self._refuse("unknown_port", self.metrics.edge(self._labels(cc, identity)))
            return
        port = inbound_port.port
        protocol: asyncio.Protocol | None
        if inbound_port.protocol in (PROTOCOL_HTTP, PROTOCOL_HTTP2, PROTOCOL_DETECT):  # detect: see _http
            router = InboundRouter(
                holder=self.holder, metrics=self.metrics, port=port, identity=identity, address=self.address,
                connect_timeout=self.connect_timeout, request_timeout=self.request_timeout,
                source=self.source, tls=bool(self.verified),
            )  # fmt: skip
            protocol = self._http(router, app_h2=inbound_port.protocol == PROTOCOL_HTTP2)
        elif inbound_port.protocol == PROTOCOL_TCP:
            protocol = self._tcp(cc, identity, port)
        elif inbound_port.protocol == PROTOCOL_UDP:  # datagrams framed in this stream (proxy.udp)
            protocol = self._udp(cc, identity, port, framed=parsed is not None)
        else:
            self._refuse("unsupported_protocol", self.metrics.edge(self._labels(cc, identity)))
            return
        if protocol is None:
            transport.close()
            return
        if self.gate is not None:
            self.gate.closed(self)  # the protocol it is handed to counts it from now on
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if rest:
            protocol.data_received(rest)


__all__ = ["InboundAcceptor", "InboundRouter", "backed_claim", "inbound_labels", "namespace_of"]
