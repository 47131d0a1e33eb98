"""A ProxyConfig turned into lookup tables, built once per config version.

The proxy never reads the ProxyConfig dataclasses on the hot path: each new config is
compiled into a ``CompiledConfig`` (hostname -> port routes, cluster name -> endpoints and
picker, regexes compiled, rules indexed by port) and swapped in with one assignment.
Requests keep the CompiledConfig they started with.  Everything here is immutable once
built: the state that changes as requests flow (split and endpoint pickers, caches) lives
in the ``proxy.runtime.ConfigRuntime`` made with each version, found through the ``slot``
numbers the compile gives each cluster and split.

The ``denied`` services (deny-by-default: mesh services this proxy may not call) become a
hostname -> ``DeniedService`` table, looked at only after a host is not found among the
services it may call.

Bad parts of a config (an invalid regex, a split backend naming no cluster) are dropped
with a warning in ``problems``: a bad rule never takes the proxy down.

Everything a request needs that does not depend on the request is computed here, once:
each split backend and each port's root carry their ``RouteDecision`` (routing returns
these objects, it builds none), and a cluster whose picker learns nothing from outcomes
(round-robin) is marked (``learns`` False), so the engine skips the feedback call per request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from proxy.headers import RequestHead
from smi.proxyconfig import (
    PROTOCOL_DETECT,
    PROTOCOL_HTTP,
    PROTOCOL_HTTP2,
    PROTOCOL_TCP,
    AllowRule,
    Cluster,
    Endpoint,
    HttpMatch,
    InboundPort,
    OutboundPort,
    ProxyConfig,
)
from smi.proxyconfig.hostnames import service_hostnames
from smi.proxyconfig.monitoring import DEFAULT_MONITORING, level_problem


class Picker(Protocol):
    def pick(self) -> Endpoint | None: ...

    def done(self, item: Endpoint, *, seconds: float, ok: bool) -> None: ...


class MatchCompileError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class CompiledMatch:
    """An HttpMatch with its regexes compiled (semantics in ``smi.proxyconfig``)."""

    name: str
    path: re.Pattern[str] | None
    methods: frozenset[str] | None  # None = every method
    headers: tuple[tuple[str, re.Pattern[str]], ...]

    def matches(self, head: RequestHead) -> bool:
        if self.methods is not None and head.method not in self.methods:
            return False
        if self.path is not None and self.path.match(head.path) is None:
            return False
        for name, pattern in self.headers:  # noqa: SIM110 (a plain loop is cheaper per request)
            if not head.header_matches(name, pattern):
                return False
        return True


def compile_match(match: HttpMatch) -> CompiledMatch:
    try:
        path = re.compile(match.path_regex) if match.path_regex is not None else None
        headers = tuple((name.lower(), re.compile(rx)) for name, rx in match.headers)
    except re.error as e:
        raise MatchCompileError(f"match {match.name!r}: invalid regex: {e}") from e
    methods = None if not match.methods or "*" in match.methods else frozenset(m.upper() for m in match.methods)
    return CompiledMatch(match.name, path, methods, headers)


def any_match(matches: tuple[CompiledMatch, ...], head: RequestHead) -> bool:
    # a plain loop, not any(<generator>): this runs per request and a generator costs more
    for m in matches:  # noqa: SIM110
        if m.matches(head):
            return True
    return False


@dataclass(frozen=True, slots=True)
class ClusterState:
    """One service port's endpoints; its picker is ``ConfigRuntime.picker(state)``."""

    cluster: Cluster
    connect_timeout: float
    request_timeout: float
    learns: bool  # the picker learns from outcomes (EWMA): the engine reports each one
    slot: int  # index of this cluster's picker in the runtime


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """Which cluster serves a request; built at compile time and shared by every request."""

    cluster: ClusterState | None  # None: nothing can serve it (reason says why)
    route: str = ""  # the split route's name, "" for the root cluster
    backend: str = ""  # the backend service picked by a split, "" without a split
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Backend:
    state: ClusterState
    service: str  # the backend service's name, for the ``backend`` metrics label
    decision: RouteDecision  # (state, split name, service)


@dataclass(frozen=True, slots=True)
class CompiledSplit:
    name: str
    matches: tuple[CompiledMatch, ...]  # empty = every request
    backends: tuple[tuple[Backend, int], ...]  # (backend, weight); picked by ``ConfigRuntime.split_picker``
    no_backend: RouteDecision  # the 503 decision when no backend has weight > 0
    slot: int  # index of this split's picker in the runtime


@dataclass(frozen=True, slots=True)
class PortRoute:
    """Where a call to one port of one service goes."""

    namespace: str
    service: str
    port: int
    protocol: str
    root: ClusterState | None
    splits: tuple[CompiledSplit, ...]
    needs_head: bool  # some split has matches, so routing looks at the request
    root_decision: RouteDecision  # when no split applies: the root cluster, or why there is none


@dataclass(frozen=True, slots=True)
class CompiledRule:
    name: str
    sources: frozenset[str]
    protocol: str
    ports: frozenset[int]  # empty = every port
    matches: tuple[CompiledMatch, ...] | None

    def covers(self, port: int) -> bool:
        return not self.ports or port in self.ports


@dataclass(frozen=True, slots=True)
class CompiledInbound:
    ports: dict[int, InboundPort]  # never changed after the compile
    app_address: str
    permissive: bool
    rules: tuple[CompiledRule, ...]
    peers: dict[str, str]  # source address -> SPIFFE id

    @property
    def only_port(self) -> InboundPort | None:
        """The single inbound port, when there is exactly one (for connections without a PROXY header)."""
        return next(iter(self.ports.values())) if len(self.ports) == 1 else None


@dataclass(frozen=True, slots=True)
class CompiledConfig:
    """The tables of one config version (the dicts are never changed after the compile)."""

    version: int
    config: ProxyConfig
    hosts: dict[tuple[str, int], PortRoute]
    services: dict[tuple[str, str, int], PortRoute]  # (namespace, name, port)
    clusters: dict[str, ClusterState]
    inbound: CompiledInbound
    problems: list[str] = field(default_factory=list)
    # hostname -> a mesh service this proxy may not call (deny-by-default): 403, not 404
    denied: dict[str, DeniedService] = field(default_factory=dict)
    cluster_slots: tuple[ClusterState, ...] = ()  # by ClusterState.slot
    split_slots: tuple[CompiledSplit, ...] = ()  # by CompiledSplit.slot
    monitoring: str = DEFAULT_MONITORING  # the config's level, valid (proxy.monitoring)


def _cluster_state(cluster: Cluster, slot: int) -> ClusterState:
    return ClusterState(
        cluster=cluster,
        connect_timeout=max(cluster.connect_timeout_ms, 1) / 1000.0,
        request_timeout=max(cluster.request_timeout_ms, 1) / 1000.0,
        learns=cluster.lb_policy == "ewma",
        slot=slot,
    )


def _matches(items: tuple[HttpMatch, ...], owner: str, problems: list[str]) -> tuple[CompiledMatch, ...] | None:
    compiled = []
    for item in items:
        try:
            compiled.append(compile_match(item))
        except MatchCompileError as e:
            problems.append(f"{owner}: {e}; the match is ignored")
    if items and not compiled:
        return None  # every match was invalid: match nothing rather than everything
    return tuple(compiled)


def _port_route(
    *, namespace: str, service: str, port: OutboundPort, clusters: dict[str, ClusterState], problems: list[str],
    split_slots: list[CompiledSplit],
) -> PortRoute:  # fmt: skip
    splits: list[CompiledSplit] = []
    for split in port.splits:
        backends: list[tuple[Backend, int]] = []
        for wc in split.backends:
            state = clusters.get(wc.cluster)
            if state is None:
                problems.append(f"split {split.name}: backend cluster {wc.cluster!r} is unknown; skipped")
                continue
            name = wc.service or state.cluster.service
            backends.append((Backend(state, name, RouteDecision(state, split.name, name)), wc.weight))
        matches = _matches(split.matches, f"split {split.name}", problems)
        if matches is None:
            continue
        why = f"traffic split {split.name} has no backend with weight > 0"
        no_backend = RouteDecision(None, split.name, "", why)
        compiled = CompiledSplit(split.name, matches, tuple(backends), no_backend, len(split_slots))
        split_slots.append(compiled)
        splits.append(compiled)
    root = clusters.get(port.cluster)
    if root is None and port.cluster:
        problems.append(f"service {namespace}/{service}:{port.port}: cluster {port.cluster!r} is unknown")
    if root is None:
        root_decision = RouteDecision(None, "", "", f"service {namespace}/{service}:{port.port} has no cluster")
    else:
        root_decision = RouteDecision(root)
    return PortRoute(
        namespace=namespace,
        service=service,
        port=port.port,
        protocol=port.protocol,
        root=root,
        splits=tuple(splits),
        needs_head=any(s.matches for s in splits),
        root_decision=root_decision,
    )


def _inbound(config: ProxyConfig, problems: list[str]) -> CompiledInbound:
    inbound = config.inbound
    rules: list[CompiledRule] = []
    for rule in inbound.rules:
        matches: tuple[CompiledMatch, ...] | None = None
        if rule.matches is not None and rule.protocol == PROTOCOL_HTTP:
            matches = _matches(rule.matches, f"rule {rule.name}", problems)
            if matches is None:
                continue
        rules.append(CompiledRule(rule.name, frozenset(rule.sources), rule.protocol, frozenset(rule.ports), matches))
    return CompiledInbound(
        ports={p.port: p for p in inbound.ports},
        app_address=inbound.app_address,
        permissive=inbound.permissive,
        rules=tuple(rules),
        peers=dict(inbound.peers),
    )


@dataclass(frozen=True, slots=True)
class DeniedService:
    """A mesh service this proxy may not call (from ``OutboundConfig.denied``)."""

    namespace: str
    name: str
    cluster_ip: str = ""


def denied_hostnames(entry: DeniedService, *, namespace: str, cluster_domain: str) -> tuple[str, ...]:
    """The names a caller in ``namespace`` may use for a denied service (the contract's one hostname rule)."""
    return service_hostnames(
        entry.name,
        entry.namespace,
        caller_namespace=namespace,
        cluster_domain=cluster_domain,
        cluster_ip=entry.cluster_ip,
    )


def _denied(config: ProxyConfig, problems: list[str]) -> dict[str, DeniedService]:
    denied = config.outbound.denied
    namespace, domain = config.node.namespace, denied.cluster_domain
    found: dict[str, DeniedService] = {}
    for group in denied.namespaces:
        ips = group.cluster_ips
        if len(ips) != len(group.names):
            problems.append(
                f"denied services of namespace {group.namespace}: {len(ips)} cluster IPs for "
                f"{len(group.names)} names; the cluster IPs are ignored"
            )
            ips = ("",) * len(group.names)
        for name, cluster_ip in zip(group.names, ips, strict=True):
            entry = DeniedService(group.namespace, name, cluster_ip)
            for hostname in denied_hostnames(entry, namespace=namespace, cluster_domain=domain):
                found.setdefault(hostname, entry)
    return found


def compile_config(config: ProxyConfig, *, version: int = 0) -> CompiledConfig:
    """Build the lookup tables for one config version."""
    problems: list[str] = []
    clusters: dict[str, ClusterState] = {}
    cluster_slots: list[ClusterState] = []
    for cluster in config.outbound.clusters:
        clusters[cluster.name] = state = _cluster_state(cluster, len(cluster_slots))
        cluster_slots.append(state)
    split_slots: list[CompiledSplit] = []
    hosts: dict[tuple[str, int], PortRoute] = {}
    services: dict[tuple[str, str, int], PortRoute] = {}
    for svc in config.outbound.services:
        for port in svc.ports:
            route = _port_route(
                namespace=svc.namespace, service=svc.name, port=port, clusters=clusters, problems=problems,
                split_slots=split_slots,
            )  # fmt: skip
            services[(svc.namespace, svc.name, port.port)] = route
            for hostname in svc.hostnames:
                hosts.setdefault((hostname.lower().rstrip("."), port.port), route)
    monitoring = config.monitoring
    if (why := level_problem(monitoring)) is not None:
        problems.append(f"monitoring: {why}; the default {DEFAULT_MONITORING!r} applies")
        monitoring = DEFAULT_MONITORING
    return CompiledConfig(
        version=version,
        config=config,
        monitoring=monitoring,
        hosts=hosts,
        services=services,
        clusters=clusters,
        inbound=_inbound(config, problems),
        problems=problems,
        denied=_denied(config, problems),
        cluster_slots=tuple(cluster_slots),
        split_slots=tuple(split_slots),
    )


__all__ = [
    "PROTOCOL_DETECT",
    "PROTOCOL_HTTP",
    "PROTOCOL_HTTP2",
    "PROTOCOL_TCP",
    "AllowRule",
    "Backend",
    "ClusterState",
    "CompiledConfig",
    "CompiledInbound",
    "CompiledMatch",
    "CompiledRule",
    "CompiledSplit",
    "DeniedService",
    "PortRoute",
    "RouteDecision",
    "any_match",
    "compile_config",
    "compile_match",
    "denied_hostnames",
]
