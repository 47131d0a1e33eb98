"""Policies -> the resilience parts of the proxy configs (pure: a MeshIndex in, a Contribution out).

Decided behaviours (docs/resilience.md):

* A policy targets a Service in its own namespace; ``targetRef.port`` (a Service port) narrows
  it to that port.  A missing Service: not applied (``ServiceNotFound``); a port the Service
  does not have: not applied (``PortNotFound``).
* UpstreamTrafficPolicy: its settings, over the mesh defaults, become the ``ClusterResilience``
  of the target's cluster(s), which every caller's sidecar applies to requests sent there.
  Two policies on the same Service port: the first by name applies there, the other gets
  ``Conflict`` for that port.  A TrafficSplit backend is its own cluster: the backend
  Service's policy applies to the share sent to it.
* ``httpRoutes`` name an HTTPRouteGroup in the policy's namespace and some of its matches
  (all when none is named); a missing group or match name is skipped with ``RouteNotFound`` /
  ``MatchNotFound`` (the rest of the policy still applies).
* RateLimitPolicy: becomes an ``InboundRateLimit`` on the target ports of the Service's
  endpoints, applied by each endpoint's inbound sidecar; ``clientRefs`` become SPIFFE ids.
  Rates are per sidecar (per replica), like Linkerd's local rate limits.
"""

from __future__ import annotations

from collections import defaultdict
from types import MappingProxyType
from typing import Final

from smi.compile import status as st
from smi.compile.endpoints import service_endpoints
from smi.compile.groups import ENDPOINT_KINDS, Contribution, Key
from smi.compile.index import MeshIndex
from smi.model import HTTPRouteGroup, ObjectKey, Service, key_of
from smi.model.policy import RateLimitPolicy, RetryPolicy, UpstreamTrafficPolicy
from smi.proxyconfig.resilience import (
    CircuitConfig,
    ClusterResilience,
    HealthCheckConfig,
    InboundRateLimit,
    OutlierConfig,
    RetryBudgetConfig,
    RetryConfig,
    RouteResilience,
)
from smi.proxyconfig.spiffe import spiffe_id
from smi.proxyconfig.types import HttpMatch
from traffic_access.matches import group_matches

POLICY_DEPENDS: Final = ENDPOINT_KINDS | {
    UpstreamTrafficPolicy.KIND,
    RateLimitPolicy.KIND,
    HTTPRouteGroup.KIND,
}

SERVICE_NOT_FOUND: Final = "ServiceNotFound"
PORT_NOT_FOUND: Final = "PortNotFound"

_DEFAULT_RETRY = RetryConfig()


def compile_policies(index: MeshIndex) -> Contribution:
    statuses: dict[ObjectKey, st.ObjectStatus] = {}
    resilience: dict[Key, dict[int, ClusterResilience]] = defaultdict(dict)
    references: dict[ObjectKey, list[ObjectKey]] = defaultdict(list)
    for policy in index.objects(UpstreamTrafficPolicy):
        _upstream(index, policy, resilience, references, statuses)
    rate_limits: dict[Key, list[InboundRateLimit]] = defaultdict(list)
    for limit in index.objects(RateLimitPolicy):
        _rate_limit(index, limit, rate_limits, statuses)
    return Contribution(
        resilience=MappingProxyType({k: MappingProxyType(v) for k, v in resilience.items()}),
        rate_limits=MappingProxyType({k: tuple(v) for k, v in rate_limits.items()}),
        statuses=MappingProxyType(statuses),
        references=MappingProxyType({k: tuple(v) for k, v in references.items()}),
    )


def _title(obj: UpstreamTrafficPolicy | RateLimitPolicy) -> str:
    return f"{type(obj).KIND} {obj.meta.namespace}/{obj.meta.name}"


def _target_ports(
    index: MeshIndex, obj: UpstreamTrafficPolicy | RateLimitPolicy, problems: list[st.Problem]
) -> tuple[Service | None, tuple[int, ...]]:
    ns, target = obj.meta.namespace, obj.target
    svc = index.services.get((ns, target.name))
    if svc is None:
        problems.append(st.Problem(SERVICE_NOT_FOUND, f"spec.targetRef.name: there is no Service {ns}/{target.name}."))
        return None, ()
    ports = tuple(sp.port for sp in svc.ports)
    if target.port is not None:
        if target.port not in ports:
            have = ", ".join(str(p) for p in ports) or "none"
            problems.append(
                st.Problem(
                    PORT_NOT_FOUND,
                    f"spec.targetRef.port: Service {ns}/{target.name} has no port {target.port} (it has {have}).",
                )
            )
            return svc, ()
        ports = (target.port,)
    return svc, ports


def _upstream(
    index: MeshIndex,
    policy: UpstreamTrafficPolicy,
    resilience: dict[Key, dict[int, ClusterResilience]],
    references: dict[ObjectKey, list[ObjectKey]],
    statuses: dict[ObjectKey, st.ObjectStatus],
) -> None:
    problems: list[st.Problem] = []
    svc, ports = _target_ports(index, policy, problems)
    applied = False
    if svc is not None and ports:
        routes = _routes(index, policy, references, problems)
        built = cluster_resilience(policy, routes)
        key = (svc.meta.namespace, svc.meta.name)
        for port in ports:
            other = resilience[key].get(port)
            if other is not None:
                problems.append(
                    st.Problem(st.CONFLICT, f"port {port} already has the policy {other.policy} (first by name).")
                )
                continue
            resilience[key][port] = built
            applied = True
    statuses[key_of(policy)] = st.status_from(
        title=_title(policy), applied=applied, problems=problems, generation=policy.meta.generation
    )


def cluster_resilience(policy: UpstreamTrafficPolicy, routes: tuple[RouteResilience, ...]) -> ClusterResilience:
    """The policy's settings over the mesh defaults."""
    base = ClusterResilience()
    t, b, c, o = policy.timeouts, policy.retry_budget, policy.connection_settings, policy.outlier_detection
    budget, circuit, outliers = base.budget, base.circuit, base.outliers
    if b is not None:
        budget = RetryBudgetConfig(
            retry_ratio=budget.retry_ratio if b.retry_ratio is None else b.retry_ratio,
            min_retries_per_second=_or(b.min_retries_per_second, budget.min_retries_per_second),
            ttl_ms=_or(b.ttl_ms, budget.ttl_ms),
        )
    if c is not None:
        circuit = CircuitConfig(
            max_connections=_or(c.max_connections, circuit.max_connections),
            max_pending=_or(c.max_pending_requests, circuit.max_pending),
            max_requests=_or(c.max_requests, circuit.max_requests),
            max_retries=_or(c.max_retries, circuit.max_retries),
        )
    if o is not None:
        outliers = OutlierConfig(
            enabled=o.enabled,
            consecutive_failures=_or(o.consecutive_failures, outliers.consecutive_failures),
            base_ejection_ms=_or(o.base_ejection_time_ms, outliers.base_ejection_ms),
            max_ejection_ms=max(_or(o.max_ejection_time_ms, outliers.max_ejection_ms),
                                _or(o.base_ejection_time_ms, outliers.base_ejection_ms)),
            max_ejection_percent=_or(o.max_ejection_percent, outliers.max_ejection_percent),
        )  # fmt: skip
    health = None
    h = policy.health_check
    if h is not None:
        d = HealthCheckConfig()
        health = HealthCheckConfig(
            kind=h.kind,
            path=h.path,
            interval_ms=_or(h.interval_ms, d.interval_ms),
            timeout_ms=_or(h.timeout_ms, d.timeout_ms),
            healthy_threshold=_or(h.healthy_threshold, d.healthy_threshold),
            unhealthy_threshold=_or(h.unhealthy_threshold, d.unhealthy_threshold),
        )
    return ClusterResilience(
        policy=f"{policy.meta.namespace}/{policy.meta.name}",
        request_timeout_ms=(t.request_ms or 0) if t is not None else 0,
        connect_timeout_ms=(c.connect_timeout_ms or 0) if c is not None else 0,
        idle_timeout_ms=_or(t.idle_ms if t is not None else None, base.idle_timeout_ms),
        retry=retry_config(policy.retry_policy) if policy.retry_policy is not None else base.retry,
        budget=budget,
        circuit=circuit,
        outliers=outliers,
        health=health,
        routes=routes,
    )


def retry_config(retry: RetryPolicy) -> RetryConfig:
    d = _DEFAULT_RETRY
    base = _or(retry.backoff_base_ms, d.backoff_base_ms)
    return RetryConfig(
        retry_on=retry.retry_on + (("retriable-status-codes",) if retry.status_codes else ()),
        status_codes=retry.status_codes,
        grpc_status_codes=retry.grpc_status_codes,
        max_retries=_or(retry.num_retries, d.max_retries),
        per_try_timeout_ms=_or(retry.per_try_timeout_ms, 0),
        backoff_base_ms=base,
        backoff_max_ms=max(base, _or(retry.backoff_max_ms, max(d.backoff_max_ms, base))),
        retry_non_idempotent=retry.retry_non_idempotent,
    )


def _routes(
    index: MeshIndex,
    policy: UpstreamTrafficPolicy,
    references: dict[ObjectKey, list[ObjectKey]],
    problems: list[st.Problem],
) -> tuple[RouteResilience, ...]:
    ns = policy.meta.namespace
    groups = index.by_name(HTTPRouteGroup)
    out: list[RouteResilience] = []
    for i, route in enumerate(policy.http_routes):
        group = groups.get((ns, route.http_route_group))
        if group is None:
            msg = f"spec.httpRoutes[{i}].httpRouteGroup: there is no HTTPRouteGroup {ns}/{route.http_route_group}."
            problems.append(st.Problem(st.ROUTE_NOT_FOUND, msg))
            continue
        references[key_of(group)].append(key_of(policy))
        available = {m.name: m for m in group_matches(index, group).matches}
        names = route.matches or tuple(available)
        missing = [n for n in names if n not in available]
        if missing:
            msg = f"spec.httpRoutes[{i}].matches: {', '.join(missing)} not in HTTPRouteGroup {ns}/{group.meta.name}."
            problems.append(st.Problem(st.MATCH_NOT_FOUND, msg))
        matches: tuple[HttpMatch, ...] = tuple(available[n] for n in names if n in available)
        if not matches:
            continue
        out.append(
            RouteResilience(
                name=f"{ns}/{policy.meta.name}/{group.meta.name}",
                matches=matches,
                request_timeout_ms=(route.timeouts.request_ms or 0) if route.timeouts is not None else 0,
                retry=retry_config(route.retry_policy) if route.retry_policy is not None else None,
            )
        )
    return tuple(out)


def _rate_limit(
    index: MeshIndex,
    limit: RateLimitPolicy,
    rate_limits: dict[Key, list[InboundRateLimit]],
    statuses: dict[ObjectKey, st.ObjectStatus],
) -> None:
    problems: list[st.Problem] = []
    svc, ports = _target_ports(index, limit, problems)
    applied = False
    if svc is not None and ports:
        endpoints = service_endpoints(index, svc)
        target_ports = sorted({ep.port for port in ports for ep in endpoints.get(port, ())})
        trust = index.settings.trust_domain
        overrides = tuple(
            (spiffe_id(trust, ref.namespace, ref.name), o.requests_per_second)
            for o in limit.overrides
            for ref in o.client_refs
        )
        rate_limits[(svc.meta.namespace, svc.meta.name)].append(
            InboundRateLimit(
                policy=f"{limit.meta.namespace}/{limit.meta.name}",
                ports=tuple(target_ports) if limit.target.port is not None else (),
                total_rps=limit.total_rps or 0,
                identity_rps=limit.identity_rps or 0,
                overrides=overrides,
                connections_per_second=limit.connections_per_second or 0,
            )
        )
        applied = True
    statuses[key_of(limit)] = st.status_from(
        title=_title(limit), applied=applied, problems=problems, generation=limit.meta.generation
    )


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


__all__ = ["POLICY_DEPENDS", "cluster_resilience", "compile_policies", "retry_config"]
