"""Outbound: what the app calls.  The HTTP proxy listener and static ``--forward`` listeners.

The app uses the outbound listener as its HTTP proxy (absolute-form targets, as HTTP_PROXY
clients send them) or calls it directly with a Host header.  The destination service is
the (hostname, port) of the authority, matched against ``OutboundService.hostnames`` and
``OutboundPort.port`` (no port = 80).  An unknown host gets ``404 no route`` (like Envoy's
NR); a known service without a usable endpoint gets 503.

A ``--forward LISTEN=SERVICE.NAMESPACE:PORT`` listener is bound to one service port: HTTP
routing with the service fixed when that port is http, otherwise opaque TCP with the same
split, load balancing, PROXY header and (with a certificate) mTLS.  Until the config has
the service it refuses connections.

Deny-by-default: a host that names a mesh service this proxy may not call
(``OutboundConfig.denied``) gets ``403`` with ``x-smi-denied-by: source`` from this proxy
(counted as denied on the edge to that service); a forward to such a service closes each
connection (counted the same way).  Only names that are no mesh service get 404.

Per request the router does as little as it can: the config version's runtime
(``proxy.runtime.ConfigRuntime``) keeps the ``PortRoute`` of each authority already seen
and one ``Target`` (with its metrics edge) per (route decision, endpoint), so the steady
state is two dict lookups, the split and endpoint picks and no allocation.  Both caches
go with the config version, and the authority cache is bounded (authorities come from
clients).  The router only decides: the engine counts the request on the target's edge.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, cast

from proxy.admission import ConnectionGate
from proxy.compiled import (
    PROTOCOL_DETECT,
    PROTOCOL_HTTP,
    PROTOCOL_HTTP2,
    CompiledConfig,
    DeniedService,
    PortRoute,
    RouteDecision,
)
from proxy.headers import RequestHead, parse_authority
from proxy.holder import ConfigHolder
from proxy.httpshell import HttpServerProtocol, RefuseHttp
from proxy.limits import DEFAULT_LIMITS, HttpLimits
from proxy.metrics import EdgeStats, Labels, Metrics
from proxy.resilience.selecting import choose
from proxy.routing import route
from proxy.runtime import ConfigRuntime, bounded_put
from proxy.sniff import DETECT_TIMEOUT
from proxy.targets import LocalReply, Target
from proxy.tcp import Refuse, TcpSplice
from proxy.upstream import UpstreamPool
from smi.proxyconfig import Endpoint

if TYPE_CHECKING:
    from proxy.http2.listeners import Http2Hub

logger = logging.getLogger(__name__)

ServiceKey = tuple[str, str, int]  # (namespace, name, port)


def _labels(cc: CompiledConfig | None, port: PortRoute | None, workload: str = "", identity: str = "",
            route_name: str = "", backend: str = "", tls: str = "false") -> Labels:  # fmt: skip
    """An outbound edge; ``tls`` "true" for a mutual-TLS hop to a peer sidecar, "false" otherwise (no hop too)."""
    if cc is None:
        return ("outbound", "", "", "", "", "", "", "", "", "", "false")
    node = cc.config.node
    ns, svc = (port.namespace, port.service) if port is not None else ("", "")
    return ("outbound", node.namespace, node.workload, node.identity, ns, svc, workload, identity, route_name, backend,
            tls)  # fmt: skip


def target_for(
    runtime: ConfigRuntime, port: PortRoute, head: RequestHead | None, *, metrics: Metrics, bind_address: str
) -> Target | LocalReply:
    """Split, load-balance and address one request or connection to ``port``.

    The runtime's ``targets`` cache (for one config version; ``metrics`` and
    ``bind_address`` are the proxy's own) memoizes the Target of each (decision, endpoint).
    """
    cc = runtime.compiled
    decision = route(head, port, runtime)
    cluster = decision.cluster
    if cluster is None:
        stats = metrics.edge(_labels(cc, port, route_name=decision.route))
        return LocalReply(503, decision.reason, stats, error="no_route")
    guard = runtime.guards[cluster.slot]
    picker = runtime.pickers[cluster.slot]
    if guard.outliers.any_ejected or (guard.health is not None and guard.health.any_unhealthy):
        endpoint = choose(picker.pick, len(cluster.cluster.endpoints), guard.outliers, guard.health)
    else:
        endpoint = picker.pick()
    if endpoint is None:
        stats = metrics.edge(_labels(cc, port, route_name=decision.route, backend=decision.backend))
        return LocalReply(503, f"no endpoints available for {cluster.cluster.name}", stats, error="no_endpoints")
    target = runtime.targets.get((id(decision), id(endpoint), bind_address))  # _cached_target, inlined
    if target is not None:
        return target
    return _cached_target(runtime, port, decision, endpoint, metrics=metrics, bind_address=bind_address)


def _cached_target(
    runtime: ConfigRuntime, port: PortRoute, decision: RouteDecision, endpoint: Endpoint, *, metrics: Metrics,
    bind_address: str,
) -> Target:  # fmt: skip
    cache = runtime.targets
    key = (id(decision), id(endpoint), bind_address)
    target = cache.get(key)
    if target is None:
        target = _target(runtime, port, decision, endpoint, metrics=metrics, bind_address=bind_address)
        cache[key] = target
    return target


def another_endpoint(
    runtime: ConfigRuntime, head: RequestHead, failed: Target, avoid: tuple[Target, ...], *, metrics: Metrics,
    bind_address: str,
) -> Target | None:  # fmt: skip
    """For a retry: another endpoint of the cluster ``failed`` came from, avoiding ``avoid`` when it can.

    The cluster's only endpoint (or one every other of which was tried) is ``failed`` itself.
    When a new config version was applied since the request was routed (typically the one
    that removes the endpoint which just refused it), the request is routed again under the
    current version, as a new request would be, still avoiding the endpoints already tried;
    None when the service is no longer in the config or has no endpoint left.  (Refusing the
    retry across versions lost requests: a SIGKILLed sidecar's connect refusal often arrives
    right after the config that drops its pod, and the healthy replica was never tried.)
    """
    note = failed.decision
    if not isinstance(note, tuple):
        return None
    port, decision = cast(tuple[PortRoute, RouteDecision], note)
    cluster = decision.cluster
    if cluster is None:
        return None
    moved = runtime.compiled.clusters.get(cluster.cluster.name) is not cluster
    if moved:
        current = runtime.compiled.services.get((port.namespace, port.service, port.port))
        if current is None:
            return None
        port, decision = current, route(head, current, runtime)
        cluster = decision.cluster
        if cluster is None:
            return None
    endpoints = cluster.cluster.endpoints
    if not endpoints:
        return None
    avoided = {t.key for t in avoid}
    picker = runtime.pickers[cluster.slot]
    guard = runtime.guards[cluster.slot]
    for _ in range(len(endpoints) if not cluster.learns else 1):
        endpoint = choose(picker.pick, len(endpoints), guard.outliers, guard.health)
        if endpoint is None:
            return None
        target = _cached_target(runtime, port, decision, endpoint, metrics=metrics, bind_address=bind_address)
        if target.key not in avoided:
            return target
        if cluster.learns:
            picker.done(endpoint, seconds=0.0, ok=False)
    return target if moved else failed  # after a swap, the current version's own target (same key)


def _target(
    runtime: ConfigRuntime, port: PortRoute, decision: RouteDecision, endpoint: Endpoint, *, metrics: Metrics,
    bind_address: str,
) -> Target:  # fmt: skip
    cc = runtime.compiled
    cluster = decision.cluster
    assert cluster is not None
    # the pool opens mTLS exactly to peer sidecars (an announced port) once it has the certificate
    tls = "true" if metrics.mtls_hops and endpoint.proxy_port else "false"
    stats = metrics.edge(_labels(cc, port, endpoint.workload, endpoint.identity, decision.route, decision.backend, tls))
    node = cc.config.node
    bind = bind_address or node.address
    if endpoint.proxy_port:
        address, conn_port, announce = endpoint.address, endpoint.proxy_port, endpoint.port
    else:
        address, conn_port, announce = endpoint.address, endpoint.port, 0
    return Target(
        address,
        conn_port,
        announce,
        bind,
        cluster.connect_timeout,
        cluster.request_timeout,
        stats,
        endpoint,
        runtime.feedback(cluster),
        (port, decision),
        runtime.guards[cluster.slot],
        f"{node.namespace}/{node.workload}" if endpoint.proxy_port and node.workload else "",
    )


DENIED_HEADER: Final = b"x-smi-denied-by: source\r\n"


def denied_stats(cc: CompiledConfig, entry: DeniedService, *, metrics: Metrics) -> EdgeStats:
    """The edge a refusal of ``entry`` is counted on: this node to that service."""
    node = cc.config.node
    return metrics.edge(
        ("outbound", node.namespace, node.workload, node.identity, entry.namespace, entry.name, "", "", "", "", "false")
    )


def denied_reply(cc: CompiledConfig, entry: DeniedService, *, metrics: Metrics) -> LocalReply:
    """403 from the caller's own sidecar: a mesh service no TrafficTarget lets this identity reach."""
    who = cc.config.node.identity or "this workload"
    text = f"no TrafficTarget allows {who} to reach {entry.name}.{entry.namespace}"
    return LocalReply(403, text, denied_stats(cc, entry, metrics=metrics), denied=True, headers=DENIED_HEADER)


class OutboundRouter:
    """Routes requests of the outbound listener (or of one ``--forward`` with ``fixed`` set)."""

    def __init__(
        self, *, holder: ConfigHolder, metrics: Metrics, bind_address: str = "", fixed: ServiceKey | None = None
    ) -> None:
        self.holder = holder
        self.metrics = metrics
        self.bind_address = bind_address
        self.fixed = fixed

    def fallback_stats(self) -> EdgeStats:
        return self.metrics.edge(_labels(self.holder.current, None))

    def another(self, head: RequestHead, failed: Target, avoid: tuple[Target, ...]) -> Target | None:
        runtime = self.holder.runtime
        if runtime is None:
            return None
        return another_endpoint(runtime, head, failed, avoid, metrics=self.metrics, bind_address=self.bind_address)

    def decide(self, head: RequestHead, authority: bytes | None) -> Target | LocalReply:
        runtime = self.holder.runtime
        if runtime is None:
            return LocalReply(503, "no config from the control plane yet", self.fallback_stats(), "no_config")
        cc = runtime.compiled
        if authority is not None and self.fixed is None:
            known = runtime.authorities.get(authority)
            if known is not None:
                return target_for(runtime, known, head, metrics=self.metrics, bind_address=self.bind_address)
        if self.fixed is not None:
            port = cc.services.get(self.fixed)
            if port is None:
                ns, name, number = self.fixed
                text = f"service {ns}/{name}:{number} is not in the mesh config"
                return LocalReply(503, text, self.fallback_stats(), "no_route")
        else:
            if authority is None:
                text = "no Host header and no absolute URI: cannot pick a service"
                return LocalReply(400, text, self.fallback_stats(), "bad_request")
            host_port = parse_authority(authority)
            if host_port is None:
                text = f"bad authority {authority.decode('latin-1')!r}"
                return LocalReply(400, text, self.fallback_stats(), "bad_request")
            found = cc.hosts.get(host_port)
            if found is None:
                entry = cc.denied.get(host_port[0])
                if entry is not None:
                    return denied_reply(cc, entry, metrics=self.metrics)
                text = f"no route: no mesh service answers to {host_port[0]}:{host_port[1]}"
                return LocalReply(404, text, self.fallback_stats(), "no_route")
            bounded_put(runtime.authorities, authority, found)
            port = found
        return target_for(runtime, port, head, metrics=self.metrics, bind_address=self.bind_address)


def outbound_factory(
    *, holder: ConfigHolder, metrics: Metrics, pool: UpstreamPool, bind_address: str = "",
    limits: HttpLimits = DEFAULT_LIMITS, gate: ConnectionGate | None = None, http2: Http2Hub | None = None,
    h1_over_h2: bool = False, detect_timeout: float = DETECT_TIMEOUT,
) -> Callable[[], asyncio.Protocol]:  # fmt: skip
    """Protocols for the outbound listener; ``gate``: its connection cap and draining (``proxy.admission``).

    Kept to one decision per accepted connection, so another listener kind (e.g. one
    capturing original destinations) can wrap or replace this factory.  ``http2``: also
    accept HTTP/2 (h2c prior knowledge or ``Upgrade: h2c``), detected per connection;
    ``h1_over_h2``: HTTP/1.1 requests too go to peer sidecars as HTTP/2 streams (``proxy.http2.front1``).
    """
    router = OutboundRouter(holder=holder, metrics=metrics, bind_address=bind_address)

    def factory() -> asyncio.Protocol:
        if gate is not None and not gate.admit():
            return RefuseHttp()
        return HttpServerProtocol(router=router, pool=pool, limits=limits, gate=gate)

    if http2 is None:
        return factory
    from proxy.http2.listeners import Detecting

    hub = http2

    def http1() -> asyncio.Protocol:
        if h1_over_h2:
            return hub.front(router, app_h2=lambda: False, gate=gate)
        return HttpServerProtocol(router=router, pool=pool, limits=limits, gate=gate)

    def detecting() -> asyncio.Protocol:
        if gate is not None and not gate.admit():
            return RefuseHttp()
        return Detecting(http1=http1, http2=lambda: hub.server(router, app_h2=lambda: True, gate=gate),
                         timeout=detect_timeout)  # fmt: skip

    return detecting


def _denied_service(cc: CompiledConfig, service: ServiceKey) -> DeniedService | None:
    ns, name, _ = service
    entry = cc.denied.get(f"{name}.{ns}".lower())
    return entry if entry is not None and entry.namespace == ns and entry.name == name else None


def forward_factory(
    *, holder: ConfigHolder, metrics: Metrics, pool: UpstreamPool, service: ServiceKey, bind_address: str = "",
    limits: HttpLimits = DEFAULT_LIMITS, gate: ConnectionGate | None = None, http2: Http2Hub | None = None,
    detect_timeout: float = DETECT_TIMEOUT,
) -> Callable[[], asyncio.Protocol]:  # fmt: skip
    """Protocols for one ``--forward`` listener: decided per accepted connection from the current config.

    A ``detect`` service port: HTTP/1.x and HTTP/2 are routed as HTTP; a TLS ClientHello, other
    bytes, or nothing within ``detect_timeout`` (server speaks first) is opaque TCP to the service.
    """
    router = OutboundRouter(holder=holder, metrics=metrics, bind_address=bind_address, fixed=service)

    def factory() -> asyncio.Protocol:
        try:
            if gate is not None and not gate.admit():
                return Refuse()
            cc = holder.current
            port = cc.services.get(service) if cc is not None else None
            if cc is None:
                return Refuse()
            if port is None:
                entry = _denied_service(cc, service)
                if entry is not None:
                    denied_stats(cc, entry, metrics=metrics).denied += 1
                    logger.info("forward %s: refused, %s", service, denied_reply(cc, entry, metrics=metrics).text)
                return Refuse()
            detecting = port.protocol == PROTOCOL_DETECT
            if port.protocol in (PROTOCOL_HTTP, PROTOCOL_HTTP2) or detecting:
                if http2 is not None:
                    from proxy.http2.listeners import Detecting

                    hub = http2
                    return Detecting(
                        http1=lambda: HttpServerProtocol(router=router, pool=pool, limits=limits, gate=gate),
                        http2=lambda: hub.server(router, app_h2=lambda: True, gate=gate),
                        timeout=detect_timeout, opaque=(lambda: splice(port, opaque=True)) if detecting else None,
                    )  # fmt: skip
                return HttpServerProtocol(router=router, pool=pool, limits=limits, gate=gate)
            return splice(port, opaque=False)
        except Exception:
            logger.exception("forward %s: cannot accept a connection", service)
            return Refuse()

    def splice(port: PortRoute, *, opaque: bool) -> asyncio.Protocol:
        """Opaque TCP to the service (split, balancing, mTLS); ``opaque``: detected, not declared."""
        try:
            runtime = holder.runtime
            if runtime is None:
                return Refuse()
            target = target_for(runtime, port, None, metrics=metrics, bind_address=bind_address)
            if isinstance(target, LocalReply):
                target.stats.error(target.error)
                return Refuse()
            return TcpSplice(target, pool, gate=gate, opaque=opaque)
        except Exception:
            logger.exception("forward %s: cannot accept a connection", service)
            return Refuse()

    return factory
