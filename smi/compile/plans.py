"""The groups' contributions to one snapshot, merged once per MeshIndex into a ``MeshPlan``.

Each group's ``contribute(index)`` is memoised in the index under its ``depends``; the
merge is memoised under the union of every group's ``depends`` (and the endpoint kinds).
Every proxy's config is cut from the one plan (``outbound``, ``inbound``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from smi.compile.endpoints import service_endpoints
from smi.compile.groups import Contribution, Group, References
from smi.compile.index import ENDPOINT_KINDS, Key, MeshIndex
from smi.compile.status import ObjectStatus
from smi.model import ObjectKey
from smi.proxyconfig.resilience import ClusterResilience, InboundRateLimit
from smi.proxyconfig.types import AllowRule, SplitRoute


@dataclass(frozen=True, slots=True)
class MeshPlan:
    """Every group's contribution to one snapshot, merged (see ``smi.compile.groups``)."""

    contributions: tuple[tuple[Group, Contribution], ...]
    routes: Mapping[Key, Mapping[int, tuple[SplitRoute, ...]]]
    route_services: Mapping[Key, frozenset[Key]]
    roots_by_service: Mapping[Key, frozenset[Key]]  # backend service -> roots whose routes use it
    allow: Mapping[str, tuple[AllowRule, ...]]
    reach: Mapping[str, frozenset[str]]
    references: References
    depends: frozenset[str]  # what the plan is computed from
    resilience: Mapping[Key, Mapping[int, ClusterResilience]] = field(default_factory=lambda: MappingProxyType({}))
    rate_limits: Mapping[Key, tuple[InboundRateLimit, ...]] = field(default_factory=lambda: MappingProxyType({}))


def plan_depends(groups: Sequence[Group]) -> frozenset[str]:
    return ENDPOINT_KINDS.union(*(g.depends for g in groups))


def mesh_plan(index: MeshIndex, groups: Sequence[Group]) -> MeshPlan:
    """The merged contributions of ``groups`` (list order) to ``index``'s snapshot."""
    depends = plan_depends(groups)
    return index.memo("mesh-plan", lambda: _merge(index, groups, depends), depends=depends)


def contribution(index: MeshIndex, group: Group) -> Contribution:
    return index.memo(("contribution", group.name), lambda: group.contribute(index), depends=group.depends)


def _merge(index: MeshIndex, groups: Sequence[Group], depends: frozenset[str]) -> MeshPlan:
    pairs = tuple((g, contribution(index, g)) for g in groups)
    routes: dict[Key, Mapping[int, tuple[SplitRoute, ...]]] = {}
    route_services: dict[Key, frozenset[Key]] = {}
    roots: dict[Key, set[Key]] = defaultdict(set)
    allow: dict[str, tuple[AllowRule, ...]] = {}
    reach: dict[str, frozenset[str]] = {}
    references: dict[ObjectKey, tuple[ObjectKey, ...]] = {}
    resilience: dict[Key, Mapping[int, ClusterResilience]] = {}
    rate_limits: dict[Key, tuple[InboundRateLimit, ...]] = {}
    for _, c in pairs:
        for service_key, ports in c.resilience.items():
            resilience.setdefault(service_key, ports)  # the first group setting a service's wins
        for service_key, limits in c.rate_limits.items():
            rate_limits[service_key] = rate_limits.get(service_key, ()) + limits
        for root, by_port in c.routes.items():
            routes.setdefault(root, by_port)  # the first group routing a root wins
        for root, services in c.route_services.items():
            route_services[root] = route_services.get(root, frozenset()) | services
            for service in services:
                roots[service].add(root)
        for identity, rules in c.allow.items():
            allow[identity] = allow.get(identity, ()) + rules
        for source, destinations in c.reach.items():
            reach[source] = reach.get(source, frozenset()) | destinations
        for key, users in c.references.items():
            references[key] = references.get(key, ()) + users
    return MeshPlan(
        contributions=pairs,
        routes=MappingProxyType(routes),
        route_services=MappingProxyType(route_services),
        roots_by_service=MappingProxyType({k: frozenset(v) for k, v in roots.items()}),
        allow=MappingProxyType(allow),
        reach=MappingProxyType(reach),
        references=MappingProxyType(references),
        depends=depends,
        resilience=MappingProxyType(resilience),
        rate_limits=MappingProxyType(rate_limits),
    )


def plan_statuses(index: MeshIndex, plan: MeshPlan) -> Mapping[ObjectKey, ObjectStatus]:
    """Every group's statuses, merged, in key order."""
    statuses: dict[ObjectKey, ObjectStatus] = {}
    for group, own in plan.contributions:
        statuses.update(group.statuses(index, own, plan.references))
    return MappingProxyType(dict(sorted(statuses.items())))


def services_by_identity(index: MeshIndex) -> Mapping[str, frozenset[Key]]:
    """SPIFFE id -> the services with at least one endpoint running as that identity."""

    def build() -> Mapping[str, frozenset[Key]]:
        found: dict[str, set[Key]] = defaultdict(set)
        for key, svc in index.services.items():
            for eps in service_endpoints(index, svc).values():
                for ep in eps:
                    if ep.identity:
                        found[ep.identity].add(key)
        return MappingProxyType({k: frozenset(v) for k, v in found.items()})

    return index.memo("services-by-identity", build, depends=ENDPOINT_KINDS)
