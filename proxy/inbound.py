"""Inbound: what other sidecars call.  PROXY header, caller identity, then HTTP or TCP per port.

A connection starts with a PROXY v2 header (sent by the calling sidecar, inside TLS with
mTLS) naming the target port.  A connection without one (e.g. an unmeshed client whose
traffic iptables redirected here in cluster mode) goes to the port it originally dialled
(``SO_ORIGINAL_DST``) when that is an inbound port, else to the only inbound port when
there is exactly one, and is refused otherwise.

The caller's identity: with mTLS, the SPIFFE id of the verified client certificate (the
listener in ``proxy.identity.inbound`` ran the handshake).  Without TLS (mTLS off, or a
plain-text connection accepted in permissive mode) it is looked up from the connection's
source address in ``InboundConfig.peers`` (the socket's peer address, not the header's
claim); an unknown address has no identity and is allowed only in permissive mode.

HTTP ports authorize every request (403 with a short reason, the app never sees it); TCP
ports authorize once at connect (denied: closed).  UDP ports take framed datagram sessions
(``proxy.udp``), authorized once per session by UDPRoute rules.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final, cast

from proxy import proxyproto
from proxy.authz import Deny, authorize_connection, authorize_request
from proxy.compiled import PROTOCOL_HTTP, PROTOCOL_TCP, CompiledConfig
from proxy.headers import RequestHead
from proxy.holder import ConfigHolder
from proxy.http1 import HttpForwarder
from proxy.identity.contexts import peer_identity
from proxy.init.origdst import NoOriginalDestination, original_destination
from proxy.limits import DEFAULT_LIMITS, HttpLimits
from proxy.metrics import EdgeStats, Labels, Metrics
from proxy.targets import LocalReply, Target
from proxy.tcp import TcpSplice
from proxy.upstream import UpstreamPool
from smi.proxyconfig import PROTOCOL_UDP

logger = logging.getLogger(__name__)

_MAX_PREAMBLE: Final = 1024


def namespace_of(identity: str) -> str:
    """``spiffe://td/ns/<ns>/sa/<sa>`` -> ``<ns>`` ("" when it is not of that shape)."""
    marker = identity.find("/ns/")
    if marker < 0:
        return ""
    rest = identity[marker + 4 :]
    return rest.split("/", 1)[0]


def inbound_labels(cc: CompiledConfig | None, identity: str, rule: str = "") -> Labels:
    if cc is None:
        return ("inbound", namespace_of(identity), "", identity, "", "", "", "", rule, "")
    node = cc.config.node
    return ("inbound", namespace_of(identity), "", identity, node.namespace, "", node.workload, node.identity, rule, "")


class InboundRouter:
    """Authorizes each request of one inbound HTTP connection and sends it to the app.

    One ``Target`` (with its metrics edge) per allowing rule is kept for the compiled
    config last seen, so an allowed request builds no labels, looks up no edge and
    allocates no Target; the cache is dropped when the config object changes.  The rules
    of one config are finite, so the cache is bounded.
    """

    def __init__(
        self, *, holder: ConfigHolder, metrics: Metrics, port: int, identity: str, address: str,
        connect_timeout: float, request_timeout: float,
    ) -> None:  # fmt: skip
        self.holder = holder
        self.metrics = metrics
        self.port = port
        self.identity = identity
        self.address = address
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self._cc: CompiledConfig | None = None  # the config the cache below belongs to
        self._targets: dict[str, Target] = {}  # allowing rule's name -> the Target (app address, stats)

    def fallback_stats(self) -> EdgeStats:
        return self.metrics.edge(inbound_labels(self.holder.current, self.identity))

    def decide(self, head: RequestHead, authority: bytes | None) -> Target | LocalReply:
        cc = self.holder.current
        if cc is None:
            return LocalReply(503, "no config from the control plane yet", self.fallback_stats(), "no_config")
        decision = authorize_request(
            identity=self.identity, address=self.address, port=self.port, head=head, inbound=cc.inbound
        )
        if isinstance(decision, Deny):
            stats = self.metrics.edge(inbound_labels(cc, self.identity))
            return LocalReply(403, f"Forbidden: {decision.reason}", stats, denied=True)
        if cc is not self._cc:
            self._cc, self._targets = cc, {}
        target = self._targets.get(decision.rule)
        if target is None:
            stats = self.metrics.edge(inbound_labels(cc, self.identity, decision.rule))
            app = cc.inbound.app_address
            target = Target(app, self.port, 0, "", self.connect_timeout, self.request_timeout, stats)
            self._targets[decision.rule] = target
        return target


class InboundAcceptor(asyncio.Protocol):
    """Reads the PROXY header, then hands the connection to an HTTP or TCP protocol."""

    def __init__(
        self, *, holder: ConfigHolder, metrics: Metrics, pool: UpstreamPool,
        connect_timeout: float = 1.0, request_timeout: float = 60.0, limits: HttpLimits = DEFAULT_LIMITS,
    ) -> None:  # fmt: skip
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

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.address = str(peer[0]) if peer else ""
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self.verified = peer_identity(ssl_object) or ""

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
            self._refuse("no_config", self.metrics.edge(inbound_labels(None, "")))
            return
        identity = self.verified if self.verified is not None else cc.inbound.peers.get(self.address, "")
        inbound_port = cc.inbound.only_port
        rest = self.buffer
        if parsed is not None:
            header, used = parsed
            rest = self.buffer[used:]
            if not header.local:
                inbound_port = cc.inbound.ports.get(header.dst_port)
        else:
            dialled = self._original_port()
            if dialled is not None and dialled in cc.inbound.ports:
                inbound_port = cc.inbound.ports[dialled]
        self.buffer = b""
        if inbound_port is None:
            self._refuse("unknown_port", self.metrics.edge(inbound_labels(cc, identity)))
            return
        port = inbound_port.port
        if inbound_port.protocol == PROTOCOL_HTTP:
            router = InboundRouter(
                holder=self.holder, metrics=self.metrics, port=port, identity=identity, address=self.address,
                connect_timeout=self.connect_timeout, request_timeout=self.request_timeout,
            )  # fmt: skip
            protocol: asyncio.Protocol = HttpForwarder(
                router=router, pool=self.pool, peer=self.peer, limits=self.limits
            )
        elif inbound_port.protocol == PROTOCOL_TCP:
            decision = authorize_connection(identity=identity, address=self.address, port=port, inbound=cc.inbound)
            if isinstance(decision, Deny):
                stats = self.metrics.edge(inbound_labels(cc, identity))
                stats.denied += 1
                logger.info("inbound connection from %s denied: %s", self.peer, decision.reason)
                transport.close()
                return
            stats = self.metrics.edge(inbound_labels(cc, identity, decision.rule))
            target = Target(cc.inbound.app_address, port, 0, "", self.connect_timeout, self.request_timeout, stats)
            protocol = TcpSplice(target, self.pool)
        elif inbound_port.protocol == PROTOCOL_UDP:  # datagrams framed in this stream (proxy.udp)
            from proxy.udp import inbound_udp

            labels = inbound_labels(cc, identity)
            udp = inbound_udp(cc, identity=identity, port=port, framed=parsed is not None, metrics=self.metrics,
                              labels=labels, peer=self.peer)  # fmt: skip
            if udp is None:
                transport.close()
                return
            protocol = udp
        else:
            self._refuse("unsupported_protocol", self.metrics.edge(inbound_labels(cc, identity)))
            return
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if rest:
            protocol.data_received(rest)


__all__ = ["InboundAcceptor", "InboundRouter", "namespace_of"]
