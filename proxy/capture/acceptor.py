"""The outbound listener's accept path with original-destination capture.

Every accepted connection is asked for ``SO_ORIGINAL_DST``.  Not redirected (the app called
the listener itself, as an HTTP proxy): straight to the HTTP engine, as before.  Redirected
by proxy-init's rules: the first bytes are read (``proxy.sniff``, at most ``SNIFF_BYTES`` or
the detection timeout, ``--detect-timeout``; a client that waits for the server counts as
opaque) and then:

* the original destination is a mesh service port (its cluster IP, ``CompiledConfig.hosts``):
  HTTP/1 goes to the HTTP engine with that service fixed (routing, splits, mTLS, metrics as
  for any request), the HTTP/2 preface (h2c prior knowledge) to the HTTP/2 engine, which
  routes every stream the same way, and so does an HTTP/1.1 ``Upgrade: h2c`` request (answered
  ``101``, then stream 1; ``engines.http1_or_upgrade``, as on the outbound listener) except
  to a ``tcp`` port, where HTTP/1 stays HTTP/1.1 (the Upgrade is not honoured); anything
  else to a ``tcp`` port is spliced as opaque TCP over mTLS (``TcpSplice``: split,
  balancing, PROXY header, the peer's TrafficTarget tcp rules), and so is anything else to
  a ``detect`` port (the port declares no protocol: a TLS ClientHello, other bytes, a
  silent client), with the PROXY header saying so.
  Non-HTTP bytes to an ``http`` or ``http2`` port go to the HTTP engine, which answers 400;
* a mesh service this proxy may not call (``CompiledConfig.denied``): HTTP gets the same 403
  as by name; other traffic is closed and counted as denied on that edge;
* anything else is outside the mesh: the egress policy (``proxy.capture.egress``) decides,
  and allowed connections are spliced, bytes untouched (TLS passes through end to end), to
  the original destination, from the proxy's own uid (not redirected again).  Counted in
  ``proxy.capture.stats``.

Handing over is the asyncio protocol switch: the chosen protocol gets ``connection_made``
with the same transport and then the bytes read so far.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from proxy.admission import ConnectionGate
from proxy.capture.egress import EgressMatcher
from proxy.capture.engines import h2_protocol, http1_or_upgrade, http_protocol, route_connection, splice
from proxy.capture.names import name_complete, requested_name
from proxy.capture.stats import EgressStats
from proxy.compiled import PROTOCOL_DETECT, PROTOCOL_HTTP, PROTOCOL_TCP, CompiledConfig, DeniedService
from proxy.headers import RequestHead
from proxy.holder import ConfigHolder
from proxy.init.origdst import NoOriginalDestination, original_destination
from proxy.limits import DEFAULT_LIMITS, HttpLimits
from proxy.metrics import EdgeStats, Metrics
from proxy.outbound import OutboundRouter, ServiceKey, denied_reply, denied_stats
from proxy.sniff import DETECT_TIMEOUT, SNIFF_BYTES, Detected, detect
from proxy.targets import LocalReply, Router, Target
from proxy.tcp import Refuse
from proxy.upstream import UpstreamPool

if TYPE_CHECKING:
    from proxy.http2.listeners import Http2Hub

logger = logging.getLogger(__name__)

EGRESS_CONNECT_TIMEOUT = 5.0
NAME_TIMEOUT = 1.0  # how long to wait for a Host header / ClientHello when a host rule needs it


class _DeniedRouter:
    """Answers every request with the 403 of a mesh service this proxy may not call."""

    def __init__(self, cc: CompiledConfig, entry: DeniedService, metrics: Metrics) -> None:
        self.reply = denied_reply(cc, entry, metrics=metrics)

    def decide(self, head: RequestHead, authority: bytes | None) -> Target | LocalReply:
        return self.reply

    def fallback_stats(self) -> EdgeStats:
        return self.reply.stats

    def another(self, head: RequestHead, failed: Target, avoid: tuple[Target, ...]) -> Target | None:
        return None  # a denied service has no endpoint to try


@dataclass
class CaptureContext:
    """What every captured connection of one outbound listener shares."""

    holder: ConfigHolder
    metrics: Metrics
    pool: UpstreamPool
    http: Callable[[], asyncio.Protocol]  # today's outbound HTTP protocol (Host/absolute-form routing)
    egress: EgressStats
    bind_address: str = ""
    limits: HttpLimits = DEFAULT_LIMITS
    gate: ConnectionGate | None = None  # the outbound listener's cap and draining
    http2: Http2Hub | None = None  # HTTP/2 (h2c prior knowledge) to mesh services (proxy.http2)
    detect_timeout: float = DETECT_TIMEOUT  # a silent client: server speaks first, opaque
    _routers: dict[ServiceKey, OutboundRouter] = field(default_factory=dict)
    _matcher: tuple[object, EgressMatcher] | None = None

    def matcher(self, cc: CompiledConfig) -> EgressMatcher:
        policy = cc.config.egress
        if self._matcher is None or self._matcher[0] is not policy:
            self._matcher = (policy, EgressMatcher(policy))
        return self._matcher[1]

    def router(self, key: ServiceKey) -> OutboundRouter:
        router = self._routers.get(key)
        if router is None:
            if len(self._routers) > 4096:
                self._routers.clear()
            router = self._routers[key] = OutboundRouter(
                holder=self.holder, metrics=self.metrics, bind_address=self.bind_address, fixed=key
            )
        return router

    def choose(self, destination: tuple[str, int], detected: Detected, prefix: bytes) -> asyncio.Protocol:
        """The protocol that takes over a captured connection."""
        cc = self.holder.current
        if cc is None:
            return Refuse() if detected is not Detected.HTTP1 else self.http()
        ip, port = destination
        found = cc.hosts.get((ip, port))
        if found is not None:
            declared_tcp = found.protocol == PROTOCOL_TCP  # HTTP/1 only is still served as HTTP there
            http = detected is Detected.HTTP1 or (detected is Detected.HTTP2 and not declared_tcp)
            if http or found.protocol not in (PROTOCOL_TCP, PROTOCOL_DETECT):
                router = self.router((found.namespace, found.service, found.port))
                app_h2 = found.protocol != PROTOCOL_HTTP  # an endpoint without a sidecar: its own protocol
                if detected is Detected.HTTP2 and self.http2 is not None:
                    return h2_protocol(self.http2, router, self.gate, app_h2=app_h2)
                if detected is Detected.HTTP1 and not declared_tcp:
                    return self._http1(router, app_h2=app_h2)
                return http_protocol(router, self.pool, self.limits, self.gate)
            target = route_connection(self.holder, found, metrics=self.metrics, bind_address=self.bind_address)
            if target is None:
                return Refuse()
            if isinstance(target, LocalReply):
                target.stats.error(target.error)
                return Refuse()
            return splice(target, self.pool, self.gate, opaque=found.protocol == PROTOCOL_DETECT)
        entry = cc.denied.get(ip)
        if entry is not None:
            if detected is Detected.HTTP1:
                return self._http1(_DeniedRouter(cc, entry, self.metrics))
            denied_stats(cc, entry, metrics=self.metrics).denied += 1
            return Refuse()
        return self._egress(cc, ip, port, detected, prefix)

    def _http1(self, router: Router, *, app_h2: bool = True) -> asyncio.Protocol:
        """HTTP/1.x to a mesh service: ``Upgrade: h2c`` is honoured as on the outbound listener."""
        if self.http2 is None:
            return http_protocol(router, self.pool, self.limits, self.gate)
        return http1_or_upgrade(
            self.http2, router, self.pool, self.limits, self.gate, self.detect_timeout, app_h2=app_h2
        )

    def _egress(self, cc: CompiledConfig, ip: str, port: int, detected: Detected, prefix: bytes) -> asyncio.Protocol:
        matcher = self.matcher(cc)
        host = requested_name(detected, prefix) if matcher.needs_host else None
        allowed = matcher.allows(ip, port, host)
        stats = self.egress.count(self.egress.destination(ip, port), host or "", allowed=allowed)
        if not allowed:
            logger.info("egress to %s:%s%s denied by the mesh's egress policy", ip, port, f" ({host})" if host else "")
            return Refuse()
        target = Target(ip, port, 0, "", EGRESS_CONNECT_TIMEOUT, 0.0, stats)
        return splice(target, self.pool, self.gate)


class CaptureAcceptor(asyncio.Protocol):
    """Reads a captured connection's original destination and first bytes, then hands it over."""

    def __init__(self, context: CaptureContext) -> None:
        self.context = context
        self.transport: asyncio.Transport | None = None
        self.destination: tuple[str, int] | None = None
        self.buffer = b""
        self.detected: Detected | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.waiting_name = False
        self.done = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        try:
            destination = original_destination(sock) if sock is not None else None
        except NoOriginalDestination:
            destination = None
        local = transport.get_extra_info("sockname")
        if destination is None or (local is not None and tuple(local[:2]) == destination):
            self._hand_over(self.context.http())  # called directly (HTTP proxy use): as before
            return
        gate = self.context.gate
        if gate is not None and not gate.admit():  # over the cap, or draining: refused (and logged)
            self.done = True
            self.transport.close()
            return
        self.destination = destination
        self.timer = asyncio.get_running_loop().call_later(self.context.detect_timeout, self._timeout)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._progress()

    def eof_received(self) -> bool:
        self._decide(final=True)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.done = True
        if self.timer is not None:
            self.timer.cancel()

    def _timeout(self) -> None:
        self.timer = None
        self._decide(final=True)

    def _progress(self) -> None:
        if self.detected is None:
            self.detected = detect(self.buffer)
            if self.detected is None and len(self.buffer) >= SNIFF_BYTES:
                self.detected = Detected.OPAQUE
        if self.detected is not None:
            self._decide(final=False)

    def _decide(self, *, final: bool) -> None:
        if self.done or self.transport is None or self.destination is None:
            return
        detected = self.detected or Detected.OPAQUE
        cc = self.context.holder.current
        wants_name = cc is not None and self.context.matcher(cc).needs_host
        if wants_name and not final and not name_complete(detected, self.buffer):
            if not self.waiting_name:  # give the Host header / ClientHello a little longer
                self.waiting_name = True
                if self.timer is not None:
                    self.timer.cancel()
                self.timer = asyncio.get_running_loop().call_later(NAME_TIMEOUT, self._timeout)
            return
        try:
            protocol = self.context.choose(self.destination, detected, self.buffer)
        except Exception:
            logger.exception("captured connection to %s:%s: cannot be handled", *self.destination)
            protocol = Refuse()
        self._hand_over(protocol)

    def _hand_over(self, protocol: asyncio.Protocol) -> None:
        self.done = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        transport = self.transport
        assert transport is not None
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if self.buffer and not transport.is_closing():
            protocol.data_received(self.buffer)
        self.buffer = b""


def capture_factory(context: CaptureContext) -> Callable[[], asyncio.Protocol]:
    def factory() -> asyncio.Protocol:
        return CaptureAcceptor(context)

    return factory
