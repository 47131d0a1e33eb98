"""TrafficTarget → inbound AllowRules per destination identity (the traffic_access part of the compile).

Pure: a MeshIndex in, a ``Contribution`` out (``allow``, ``reach``, statuses, references),
shared by every proxy of that snapshot.  The
decided behaviours (docs/semantics.md, "TrafficTarget"):

* Destination and sources are ServiceAccounts.  An omitted ``destination.namespace`` or
  source ``namespace`` means the TrafficTarget's own namespace.  The TrafficTarget may
  name a destination in another namespace (unlike OSM); its rules' routes are always
  looked up in the TrafficTarget's namespace.
* HTTPRouteGroup rule: ``matches`` omitted → every match of the group; named matches that
  do not exist are skipped (``MatchNotFound``); when none is left the rule is dropped, never
  widened.  TCPRoute/UDPRoute rule: their ports (``[]`` = every port).  A TCPRoute rule
  allows whole connections on its ports, HTTP included (smi-spec #206).
* v1alpha1/2 ``destination.port`` restricts every rule of the target to that port.
* Ports are the destination pod's (container) ports.
* A missing route → the rule is dropped (``RouteNotFound``); a target with no rule or no
  source left has no effect (not accepted).
"""

from __future__ import annotations

from collections import defaultdict
from types import MappingProxyType

from smi.compile import status as st
from smi.compile.groups import Contribution
from smi.compile.index import MeshIndex
from smi.model import HTTPRouteGroup, ObjectKey, RuleRef, TCPRoute, TrafficTarget, UDPRoute, key_of
from smi.proxyconfig.spiffe import workload_id
from smi.proxyconfig.types import PROTOCOL_HTTP, PROTOCOL_TCP, PROTOCOL_UDP, AllowRule
from traffic_access.matches import group_matches

SERVICE_ACCOUNT = "ServiceAccount"


def compile_targets(index: MeshIndex) -> Contribution:
    """``allow``: destination SPIFFE id -> its rules; ``reach``: source id -> destinations it may call;
    ``references``: route object -> the targets naming it."""
    rules: dict[str, list[AllowRule]] = defaultdict(list)
    reach: dict[str, set[str]] = defaultdict(set)
    statuses: dict[ObjectKey, st.ObjectStatus] = {}
    references: dict[ObjectKey, list[ObjectKey]] = defaultdict(list)
    for tt in index.objects(TrafficTarget):
        for rule in tt.rules:
            references[ObjectKey(rule.kind, tt.meta.namespace, rule.name)].append(key_of(tt))
        destination, sources, allowed, problems = _compile_target(index, tt)
        applied = destination is not None and bool(sources) and bool(allowed)
        if applied and destination is not None:
            rules[destination].extend(allowed)
            for source in sources:
                reach[source].add(destination)
        summary = ""
        if applied:
            dest_ns = tt.destination.namespace or tt.meta.namespace
            summary = (
                f"allows {len(sources)} source(s) to reach ServiceAccount {dest_ns}/{tt.destination.name} "
                f"with {len(allowed)} rule(s)."
            )
        statuses[key_of(tt)] = st.status_from(
            title=f"TrafficTarget {tt.meta.namespace}/{tt.meta.name}",
            applied=applied,
            problems=problems,
            generation=tt.meta.generation,
            summary=summary,
        )
    return Contribution(
        allow=MappingProxyType({k: tuple(v) for k, v in rules.items()}),
        reach=MappingProxyType({k: frozenset(v) for k, v in reach.items()}),
        statuses=MappingProxyType(statuses),
        references=MappingProxyType({k: tuple(v) for k, v in references.items()}),
    )


def _paths(tt: TrafficTarget) -> tuple[str, str]:
    """Field paths as the manifest spells them: v1alpha1 has no ``spec`` and calls rules ``specs``."""
    if tt.api_version.endswith("v1alpha1"):
        return "", "specs"
    return "spec.", "spec.rules"


def _compile_target(
    index: MeshIndex, tt: TrafficTarget
) -> tuple[str | None, tuple[str, ...], list[AllowRule], list[st.Problem]]:
    ns = tt.meta.namespace
    td = index.settings.trust_domain
    spec, rules_path = _paths(tt)
    problems: list[st.Problem] = []
    destination: str | None = None
    if tt.destination.kind != SERVICE_ACCOUNT:
        msg = f"{spec}destination.kind: {tt.destination.kind} is not supported (only ServiceAccount); target ignored."
        problems.append(st.Problem(st.UNSUPPORTED_KIND, msg))
    else:
        destination = workload_id(td, tt.destination.namespace or ns, tt.destination.name)

    sources: list[str] = []
    for i, src in enumerate(tt.sources):
        if src.kind != SERVICE_ACCOUNT:
            msg = f"{spec}sources[{i}].kind: {src.kind} is not supported (only ServiceAccount); source skipped."
            problems.append(st.Problem(st.UNSUPPORTED_KIND, msg))
            continue
        sources.append(workload_id(td, src.namespace or ns, src.name))
    if not sources:
        problems.append(st.Problem(st.NO_SOURCES, f"{spec}sources: no usable source; the target allows nothing."))
    source_ids = tuple(dict.fromkeys(sources))

    allowed: list[AllowRule] = []
    for j, rule in enumerate(tt.rules):
        built = _compile_rule(index, tt, rule, f"{rules_path}[{j}]", source_ids, problems)
        if built is not None:
            allowed.append(built)
    if not tt.rules:
        problems.append(st.Problem(st.NO_RULES, f"{rules_path}: no rules; the target allows nothing."))
    elif not allowed:
        problems.append(st.Problem(st.NO_RULES, f"{rules_path}: no usable rule is left; the target allows nothing."))
    return destination, source_ids, allowed, problems


def _compile_rule(
    index: MeshIndex,
    tt: TrafficTarget,
    rule: RuleRef,
    path: str,
    sources: tuple[str, ...],
    problems: list[st.Problem],
) -> AllowRule | None:
    ns = tt.meta.namespace
    name = f"{ns}/{tt.meta.name}/{rule.kind}/{rule.name}"
    only_port = tt.destination_port
    if rule.kind == HTTPRouteGroup.KIND:
        group = index.by_name(HTTPRouteGroup).get((ns, rule.name))
        if group is None:
            msg = f"{path}.name: HTTPRouteGroup {ns}/{rule.name} not found; rule dropped."
            problems.append(st.Problem(st.ROUTE_NOT_FOUND, msg))
            return None
        usable = group_matches(index, group)
        if rule.matches is None:
            matches = usable.matches
        else:
            matches = ()
            for k, match_name in enumerate(rule.matches):
                found = usable.named(match_name)
                if found is None:
                    msg = (
                        f"{path}.matches[{k}]: HTTPRouteGroup {ns}/{rule.name} has no usable match "
                        f"{match_name!r}; skipped."
                    )
                    problems.append(st.Problem(st.MATCH_NOT_FOUND, msg))
                elif found not in matches:
                    matches += (found,)
        if not matches:
            msg = f"{path}: no match of HTTPRouteGroup {ns}/{rule.name} is left; rule dropped (not widened)."
            problems.append(st.Problem(st.MATCH_NOT_FOUND, msg))
            return None
        http_ports: tuple[int, ...] = (only_port,) if only_port is not None else ()
        return AllowRule(name=name, sources=sources, protocol=PROTOCOL_HTTP, ports=http_ports, matches=matches)

    route: TCPRoute | UDPRoute | None
    if rule.kind == TCPRoute.KIND:
        route, protocol = index.by_name(TCPRoute).get((ns, rule.name)), PROTOCOL_TCP
    elif rule.kind == UDPRoute.KIND:
        route, protocol = index.by_name(UDPRoute).get((ns, rule.name)), PROTOCOL_UDP
    else:
        msg = f"{path}.kind: {rule.kind} is not supported (HTTPRouteGroup, TCPRoute, UDPRoute); rule dropped."
        problems.append(st.Problem(st.UNSUPPORTED_KIND, msg))
        return None
    if route is None:
        msg = f"{path}.name: {rule.kind} {ns}/{rule.name} not found; rule dropped."
        problems.append(st.Problem(st.ROUTE_NOT_FOUND, msg))
        return None
    ports = tuple(sorted(set(route.ports)))
    if only_port is not None:
        if ports and only_port not in ports:
            msg = f"{path}: {rule.kind} {ns}/{rule.name} does not cover destination.port {only_port}; rule dropped."
            problems.append(st.Problem(st.PORT_NOT_ALLOWED, msg))
            return None
        ports = (only_port,)
    return AllowRule(name=name, sources=sources, protocol=protocol, ports=ports, matches=None)
