"""TrafficSplit → per-root-service-port SplitRoutes (the traffic_split part of the compile).

Pure: a MeshIndex in, a ``Contribution`` out (``routes``, ``route_services``, statuses,
references), shared by every proxy of that snapshot.  The
decided behaviours (docs/semantics.md, "TrafficSplit"):

* The root (``spec.service``) and the backends are Services in the split's namespace.
  The root may also be written as its in-cluster DNS name (``name.ns``, ``name.ns.svc``,
  ``name.ns.svc.<cluster-domain>``, as Flagger writes it): it names that Service when
  ``ns`` is the split's namespace; any other namespace is ``RootServiceNotFound``.
  Root missing → not applied (``RootServiceNotFound``).  A missing backend is skipped
  (``BackendNotFound``); with none left the split is not applied and traffic goes to the
  root service as if there were no split.
* Weights are relative; they become exact integers (``weights``).  Weight 0 keeps the
  backend known but sends it nothing.  All weights 0 → not applied (``NoWeight``).
* Per root port, a backend is used at the *same port number*; a backend without that
  port gets nothing on it (``BackendPortMissing``, the split still applies elsewhere).
* A backend with no ready endpoints on that port gets weight 0 in the route, so its share
  goes to the others; when every weighted backend has none, the written weights stay and
  the proxy answers 503.  (Not part of the status: it changes with every rollout.)
* ``matches`` (v1alpha3/4) name HTTPRouteGroups in the split's namespace; only matching
  requests are split.  A missing group or kind → the split is not installed rather than
  matching every request (``RouteNotFound``/``UnsupportedKind``/``MatchNotFound``).
* Several splits on one root: every split with ``matches`` is installed, in name order,
  before the one catch-all (no ``matches``) split; of several catch-all splits the first
  by name wins and the others get ``Conflict``.
* A backend equal to the root is the root's own endpoints, not a recursion.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

from smi.compile import status as st
from smi.compile.endpoints import service_endpoints
from smi.compile.groups import ENDPOINT_KINDS, Contribution, Key
from smi.compile.index import MeshIndex
from smi.compile.naming import cluster_name
from smi.model import HTTPRouteGroup, ObjectKey, Service, TrafficSplit, key_of
from smi.proxyconfig.types import HttpMatch, SplitRoute, WeightedCluster
from traffic_access.matches import group_matches
from traffic_split.weights import integer_weights

# What the split contribution is computed from (``Group.depends``).
SPLIT_KINDS = ENDPOINT_KINDS | {TrafficSplit.KIND, HTTPRouteGroup.KIND}


@dataclass(frozen=True, slots=True)
class _Candidate:
    split: TrafficSplit
    root: Service
    backends: tuple[tuple[int, Service, Decimal], ...]  # (index in spec.backends, service, weight)
    matches: tuple[HttpMatch, ...]
    problems: list[st.Problem]


# The routes of one root depend on its TrafficSplits (compared as objects) and on these kinds.
_ROOT_DEPENDS = SPLIT_KINDS - {TrafficSplit.KIND}


@dataclass(frozen=True, slots=True)
class _RootResult:
    routes: Mapping[int, tuple[SplitRoute, ...]]  # empty: nothing installed on this root
    backends: frozenset[Key]
    statuses: Mapping[ObjectKey, st.ObjectStatus]


def compile_splits(index: MeshIndex) -> Contribution:
    """Every split, root by root; a root whose splits are unchanged reuses its last result.

    ``routes``: root service -> port -> routes in order; ``route_services``: root -> the
    backend services its routes use; ``references``: HTTPRouteGroup -> splits naming it.
    """
    references: dict[ObjectKey, list[ObjectKey]] = defaultdict(list)
    by_root: dict[Key, list[TrafficSplit]] = defaultdict(list)
    for ts in index.objects(TrafficSplit):
        for ref in ts.matches:
            references[ObjectKey(HTTPRouteGroup.KIND, ts.meta.namespace, ref.name)].append(key_of(ts))
        by_root[(ts.meta.namespace, root_name(ts, index.settings.cluster_domain))].append(ts)

    statuses: dict[ObjectKey, st.ObjectStatus] = {}
    routes: dict[Key, Mapping[int, tuple[SplitRoute, ...]]] = {}
    backends: dict[Key, frozenset[Key]] = {}
    for root_key, splits in by_root.items():
        members = tuple(splits)
        build = functools.partial(_compile_root, index, members)
        result = index.memo_on(("split-root", root_key), members, build, depends=_ROOT_DEPENDS)
        statuses.update(result.statuses)
        if result.routes:
            routes[root_key] = result.routes
            backends[root_key] = result.backends
    return Contribution(
        routes=MappingProxyType(routes),
        route_services=MappingProxyType(backends),
        statuses=MappingProxyType(statuses),
        references=MappingProxyType({k: tuple(v) for k, v in references.items()}),
    )


def root_name(ts: TrafficSplit, cluster_domain: str) -> str:
    """The name of the Service ``spec.service`` names in the split's namespace.

    A plain name is itself; an in-cluster DNS name of a Service of this namespace
    (``name.ns``, ``name.ns.svc``, ``name.ns.svc.<cluster-domain>``) is its first label.
    Anything else is returned as written (and found nowhere).
    """
    written = ts.service
    name, dot, rest = written.lower().rstrip(".").partition(".")
    ns = ts.meta.namespace
    if dot and rest in (ns, f"{ns}.svc", f"{ns}.svc.{cluster_domain.lower().rstrip('.')}"):
        return name
    return written


def _compile_root(index: MeshIndex, splits: tuple[TrafficSplit, ...]) -> _RootResult:
    """The splits naming one root service (in name order): checked, conflicts resolved, routed."""
    statuses: dict[ObjectKey, st.ObjectStatus] = {}
    candidates: list[_Candidate] = []
    for ts in splits:
        candidate, rejected = _check(index, ts)
        if candidate is None:
            statuses[key_of(ts)] = rejected
        else:
            candidates.append(candidate)
    if not candidates:
        return _RootResult(routes=MappingProxyType({}), backends=frozenset(), statuses=MappingProxyType(statuses))
    installed = _resolve_conflicts(candidates, statuses)
    port_routes, used = _routes_for_root(index, installed, statuses)
    return _RootResult(
        routes=MappingProxyType(port_routes),
        backends=frozenset(used) if port_routes else frozenset(),
        statuses=MappingProxyType(statuses),
    )


def _title(ts: TrafficSplit) -> str:
    return f"TrafficSplit {ts.meta.namespace}/{ts.meta.name}"


def _rejected(ts: TrafficSplit, problems: Sequence[st.Problem]) -> st.ObjectStatus:
    return st.status_from(title=_title(ts), applied=False, problems=problems, generation=ts.meta.generation)


def _check(index: MeshIndex, ts: TrafficSplit) -> tuple[_Candidate | None, st.ObjectStatus]:
    """Validate one split's references; a candidate, or None and its (not accepted) status."""
    ns = ts.meta.namespace
    problems: list[st.Problem] = []
    name = root_name(ts, index.settings.cluster_domain)
    root = index.services.get((ns, name))
    if root is None:
        msg = f"spec.service: Service {ns}/{name} not found; the split is not applied."
        if name == ts.service and "." in ts.service:
            msg = (
                f"spec.service: {ts.service!r} is not a Service of namespace {ns} (a name, or its in-cluster "
                f"DNS name {{name}}.{ns}.svc.{index.settings.cluster_domain}); the split is not applied."
            )
        return None, _rejected(ts, [st.Problem(st.ROOT_SERVICE_NOT_FOUND, msg)])

    present: list[tuple[int, Service, Decimal]] = []
    for i, backend in enumerate(ts.backends):
        svc = index.services.get((ns, backend.service))
        if not backend.weight.is_finite() or backend.weight < 0:
            msg = f"spec.backends[{i}].weight: must be >= 0, got {backend.weight}; backend skipped."
            problems.append(st.Problem(st.INVALID_WEIGHT, msg))
        elif svc is None:
            msg = f"spec.backends[{i}].service: Service {ns}/{backend.service} not found; backend skipped."
            problems.append(st.Problem(st.BACKEND_NOT_FOUND, msg))
        else:
            present.append((i, svc, backend.weight))
    fallback = f"traffic goes to the root Service {ns}/{name} as if there were no split."
    if not present:
        if not ts.backends:
            problems.append(st.Problem(st.NO_BACKENDS, "spec.backends: the split lists no backends;"))
        problems.append(st.Problem(st.NO_BACKENDS, f"No backend is usable, so {fallback}"))
        return None, _rejected(ts, problems)
    if all(w == 0 for _, _, w in present):
        msg = f"spec.backends: every weight is 0, so the split is not applied and {fallback}"
        return None, _rejected(ts, [st.Problem(st.NO_WEIGHT, msg), *problems])

    matches, match_problems = _split_matches(index, ts)
    if match_problems:
        return None, _rejected(ts, [*match_problems, *problems])
    return _Candidate(ts, root, tuple(present), matches, problems), st.ObjectStatus(True, st.ACCEPTED, "")


def _split_matches(index: MeshIndex, ts: TrafficSplit) -> tuple[tuple[HttpMatch, ...], list[st.Problem]]:
    ns = ts.meta.namespace
    matches: list[HttpMatch] = []
    problems: list[st.Problem] = []
    not_installed = "the split is not installed rather than matching every request."
    for j, ref in enumerate(ts.matches):
        if ref.kind != HTTPRouteGroup.KIND:
            msg = f"spec.matches[{j}].kind: {ref.kind} is not supported (only HTTPRouteGroup); {not_installed}"
            problems.append(st.Problem(st.UNSUPPORTED_KIND, msg))
            continue
        group = index.by_name(HTTPRouteGroup).get((ns, ref.name))
        if group is None:
            msg = f"spec.matches[{j}].name: HTTPRouteGroup {ns}/{ref.name} not found; {not_installed}"
            problems.append(st.Problem(st.ROUTE_NOT_FOUND, msg))
            continue
        matches.extend(group_matches(index, group).matches)
    if ts.matches and not problems and not matches:
        msg = f"spec.matches: the referenced HTTPRouteGroups have no usable match; {not_installed}"
        problems.append(st.Problem(st.MATCH_NOT_FOUND, msg))
    return tuple(matches), problems


def _resolve_conflicts(candidates: list[_Candidate], statuses: dict[ObjectKey, st.ObjectStatus]) -> list[_Candidate]:
    """Splits with matches (name order), then the first catch-all split; later catch-alls conflict."""
    with_matches = [c for c in candidates if c.split.matches]
    catch_all = [c for c in candidates if not c.split.matches]
    for loser in catch_all[1:]:
        winner = catch_all[0].split
        ns = loser.split.meta.namespace
        msg = (
            f"TrafficSplit {ns}/{winner.meta.name} already splits every request to Service "
            f"{ns}/{loser.root.meta.name} (no matches, first by name wins); this split is not applied."
        )
        statuses[key_of(loser.split)] = _rejected(loser.split, [st.Problem(st.CONFLICT, msg)])
    return with_matches + catch_all[:1]


def _routes_for_root(
    index: MeshIndex, installed: list[_Candidate], statuses: dict[ObjectKey, st.ObjectStatus]
) -> tuple[dict[int, tuple[SplitRoute, ...]], set[Key]]:
    port_routes: dict[int, list[SplitRoute]] = defaultdict(list)
    used: set[Key] = set()
    for cand in installed:
        applied_ports: list[int] = []
        problems = list(cand.problems)
        for sp in cand.root.ports:
            route = _route_for_port(index, cand, sp.port, problems)
            if route is not None:
                port_routes[sp.port].append(route)
                applied_ports.append(sp.port)
                used.update((cand.split.meta.namespace, w.service) for w in route.backends)
        ts = cand.split
        if not applied_ports and not cand.root.ports:
            msg = f"spec.service: Service {ts.meta.namespace}/{cand.root.meta.name} has no ports; nothing to split."
            problems.append(st.Problem(st.BACKEND_PORT_MISSING, msg))
        ports = ", ".join(map(str, applied_ports))
        summary = f"splits Service {ts.meta.namespace}/{cand.root.meta.name} port(s) {ports} across " + ", ".join(
            f"{svc.meta.name}" for _, svc, _ in cand.backends
        )
        summary += " for matching requests." if ts.matches else "."
        statuses[key_of(ts)] = st.status_from(
            title=_title(ts),
            applied=bool(applied_ports),
            problems=problems,
            generation=ts.meta.generation,
            summary=summary,
        )
    return {port: tuple(rs) for port, rs in sorted(port_routes.items())}, used


def _port_numbers(svc: Service) -> frozenset[int]:
    return frozenset(p.port for p in svc.ports)


def _route_for_port(index: MeshIndex, cand: _Candidate, port: int, problems: list[st.Problem]) -> SplitRoute | None:
    ns = cand.split.meta.namespace
    serving: list[tuple[Service, Decimal, bool]] = []  # (service, weight, has ready endpoints)
    for i, svc, weight in cand.backends:
        if port not in _port_numbers(svc):
            msg = (
                f"spec.backends[{i}].service: Service {ns}/{svc.meta.name} has no port {port}; "
                f"it gets no traffic on that port."
            )
            problems.append(st.Problem(st.BACKEND_PORT_MISSING, msg))
            continue
        serving.append((svc, weight, bool(service_endpoints(index, svc).get(port))))
    if not serving or all(w == 0 for _, w, _ in serving):
        return None
    effective = [w if ready else Decimal(0) for _, w, ready in serving]
    if all(w == 0 for w in effective):  # nothing is ready anywhere: keep the written weights (503)
        effective = [w for _, w, _ in serving]
    weights = integer_weights(effective)
    return SplitRoute(
        name=f"{ns}/{cand.split.meta.name}",
        backends=tuple(
            WeightedCluster(cluster=cluster_name(ns, svc.meta.name, port), weight=w, service=svc.meta.name)
            for (svc, _, _), w in zip(serving, weights, strict=True)
        ),
        matches=cand.matches,
    )
