"""The outbound half of a ProxyConfig: the services a proxy may call and their clusters.

"Only the part of the mesh it needs": in deny-by-default mode a proxy gets the services
with at least one endpoint whose identity some accepted TrafficTarget lets this proxy's
identity call, plus the roots of installed splits using such a service, plus every
backend of those splits (so the split keeps the ratios the user wrote; a backend the
caller may not reach answers 403 at its own sidecar).  In permissive mode it gets every
service.  The result depends only on the caller's identity (which includes its
namespace), so it is built once per identity per snapshot.

``denied`` (deny-by-default only): every other Service of the mesh, compactly (per
namespace, names and cluster IPs; no ports, no endpoints), so the caller's own
sidecar can answer 403 for a mesh service it may not reach and keep 404 for names that
are no mesh service at all.  The per-namespace lists are built once and shared by every
proxy; per identity only the selection is made, and the resulting
``DeniedServices`` object is kept while neither the Services nor the identity's
reachable set change (a split change keeps it, so its encoded text is reused).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from smi.compile.endpoints import service_endpoints
from smi.compile.index import ENDPOINT_KINDS, LB_POLICY_ANNOTATION, Key, MeshIndex
from smi.compile.naming import cluster_name, hostnames
from smi.compile.plans import MeshPlan, services_by_identity
from smi.compile.protocols import port_protocol
from smi.model import Service
from smi.proxyconfig.resilience import ClusterResilience
from smi.proxyconfig.types import (
    Cluster,
    DeniedNamespace,
    DeniedServices,
    OutboundConfig,
    OutboundPort,
    OutboundService,
)

_SERVICE_DEPENDS = frozenset({Service.KIND})  # dropped with any Service change, so deleted ones go


def outbound_for(index: MeshIndex, plan: MeshPlan, *, namespace: str, identity: str) -> OutboundConfig:
    """The outbound config of a proxy in ``namespace`` running as ``identity``."""
    if index.settings.permissive:
        every = ("outbound-all", namespace)
        return index.memo(every, lambda: _build(index, plan, namespace, set(index.services)), depends=plan.depends)
    build = lambda: _build(index, plan, namespace, reachable(index, plan, identity), identity=identity)  # noqa: E731
    return index.memo(("outbound", identity), build, depends=plan.depends)


def reachable(index: MeshIndex, plan: MeshPlan, identity: str) -> set[Key]:
    """The services a caller running as ``identity`` may reach under deny-by-default."""
    by_identity = services_by_identity(index)
    keys: set[Key] = set()
    for destination in plan.reach.get(identity, ()):
        keys |= by_identity.get(destination, frozenset())
    for root in {r for k in keys for r in plan.roots_by_service.get(k, ())}:
        keys.add(root)
        keys |= plan.route_services[root]
    return keys


def _build(index: MeshIndex, plan: MeshPlan, namespace: str, keys: set[Key], *, identity: str = "") -> OutboundConfig:
    """The outbound config for ``keys``; with ``identity`` (deny mode) every other Service is denied."""
    services = []
    clusters: list[Cluster] = []
    for key in sorted(keys):
        svc = index.services[key]
        services.append(_service(index, plan, svc, caller_namespace=namespace))
        clusters.extend(with_resilience(clusters_of(index, svc), plan.resilience.get(key)))
    denied = denied_for(index, identity, keys) if identity else DeniedServices(index.settings.cluster_domain)
    return OutboundConfig(services=tuple(services), clusters=tuple(clusters), denied=denied)


def denied_for(index: MeshIndex, identity: str, keys: set[Key]) -> DeniedServices:
    """Every Service but ``keys``: the same object while the Services and ``keys`` stay the same.

    Kept per identity across snapshots (one slot each, so memory stays bounded) and
    rebuilt only when a Service changes or what the identity may reach does; a split or
    endpoint change leaves it, so the config server reuses its JSON text.
    """
    entries = denied_entries(index)
    slot: dict[frozenset[Key], DeniedServices] = index.memo_on(
        ("denied", identity), (entries,), dict, depends=_SERVICE_DEPENDS
    )
    reachable_keys = frozenset(keys)
    found = slot.get(reachable_keys)
    if found is None:
        positions = _positions(index)
        cuts: dict[int, list[int]] = {}  # group -> positions of reachable services, cut out below
        for key in reachable_keys:
            at = positions.get(key)
            if at is not None:
                cuts.setdefault(at[0], []).append(at[1])
        groups = []
        for g, group in enumerate(entries):
            if g not in cuts:
                groups.append(group)  # the shared object
                continue
            names: tuple[str, ...] = ()
            ips: tuple[str, ...] = ()
            start = 0
            for pos in sorted(cuts[g]):
                names += group.names[start:pos]
                ips += group.cluster_ips[start:pos]
                start = pos + 1
            names += group.names[start:]
            ips += group.cluster_ips[start:]
            if names:
                groups.append(DeniedNamespace(group.namespace, names, ips))
        found = DeniedServices(index.settings.cluster_domain, tuple(groups))
        slot.clear()  # a pure function of (entries, keys): replacing it is always safe
        slot[reachable_keys] = found
    return found


def denied_entries(index: MeshIndex) -> tuple[DeniedNamespace, ...]:
    """Every Service of the mesh, per namespace (sorted); shared by every proxy that may reach none of them."""

    def build() -> tuple[DeniedNamespace, ...]:
        by_ns: dict[str, list[tuple[str, str]]] = {}
        for ns, name in sorted(index.services):
            ip = index.services[(ns, name)].cluster_ip
            by_ns.setdefault(ns, []).append((name, ip if ip and ip != "None" else ""))
        return tuple(
            DeniedNamespace(ns, tuple(n for n, _ in pairs), tuple(ip for _, ip in pairs)) for ns, pairs in by_ns.items()
        )

    return index.memo("denied-entries", build, depends=_SERVICE_DEPENDS)


def _positions(index: MeshIndex) -> dict[Key, tuple[int, int]]:
    """Service key -> (its namespace's place in ``denied_entries``, its place in that list)."""

    def build() -> dict[Key, tuple[int, int]]:
        return {
            (group.namespace, name): (g, i)
            for g, group in enumerate(denied_entries(index))
            for i, name in enumerate(group.names)
        }

    return index.memo("denied-positions", build, depends=_SERVICE_DEPENDS)


def _service(index: MeshIndex, plan: MeshPlan, svc: Service, *, caller_namespace: str) -> OutboundService:
    ns, name = svc.meta.namespace, svc.meta.name
    same = ns == caller_namespace

    def build() -> OutboundService:
        routes = plan.routes.get((ns, name), {})
        ports = tuple(
            OutboundPort(
                port=sp.port,
                protocol=port_protocol(name=sp.name, protocol=sp.protocol, app_protocol=sp.app_protocol),
                cluster=cluster_name(ns, name, sp.port),
                splits=routes.get(sp.port, ()),
            )
            for sp in svc.ports
        )
        names = hostnames(svc, caller_namespace=caller_namespace, cluster_domain=index.settings.cluster_domain)
        return OutboundService(namespace=ns, name=name, hostnames=names, ports=ports)

    # Reused while the Service and its split routes are the same objects (a split change
    # elsewhere leaves them so), which also lets the publisher reuse their encoded text.
    inputs = (svc, plan.routes.get((ns, name)))
    return index.memo_on(("outbound-service", ns, name, same), inputs, build, depends=_SERVICE_DEPENDS)


def with_resilience(
    clusters: tuple[Cluster, ...], by_port: Mapping[int, ClusterResilience] | None
) -> tuple[Cluster, ...]:
    """The clusters with their policy's resilience (and its timeouts) where one applies."""
    if not by_port:
        return clusters
    out = []
    for cluster in clusters:
        res = by_port.get(cluster.port)
        if res is None:
            out.append(cluster)
            continue
        out.append(
            replace(
                cluster,
                resilience=res,
                request_timeout_ms=res.request_timeout_ms or cluster.request_timeout_ms,
                connect_timeout_ms=res.connect_timeout_ms or cluster.connect_timeout_ms,
            )
        )
    return tuple(out)


def clusters_of(index: MeshIndex, svc: Service) -> tuple[Cluster, ...]:
    """One cluster per port of ``svc`` with its ready endpoints."""
    ns, name = svc.meta.namespace, svc.meta.name

    def build() -> tuple[Cluster, ...]:
        endpoints = service_endpoints(index, svc)
        settings = index.settings
        lb = svc.meta.annotations.get(LB_POLICY_ANNOTATION) or settings.lb_policy
        return tuple(
            Cluster(
                name=cluster_name(ns, name, sp.port),
                namespace=ns,
                service=name,
                port=sp.port,
                protocol=port_protocol(name=sp.name, protocol=sp.protocol, app_protocol=sp.app_protocol),
                endpoints=endpoints.get(sp.port, ()),
                lb_policy=lb,
                connect_timeout_ms=settings.connect_timeout_ms,
                request_timeout_ms=settings.request_timeout_ms,
            )
            for sp in svc.ports
        )

    return index.memo(("clusters", ns, name), build, depends=ENDPOINT_KINDS)
