"""The TrafficMetrics a request asks for, from a window of edge series and a topology (pure).

A source (direct scrapes or Prometheus) answers a :class:`WindowData`: for every reporting
sidecar (its pod), each edge vector's change over the window (``traffic_metrics.samples``).
This module groups those vectors by the objects a user asks about:

* **a resource** (get or list): the *server side*, the inbound series of the resource's
  pods (all traffic received; ``edge: {direction: from, side: server, resource: null}``);
* **edges** of a resource: every other object it exchanged traffic with, each direction
  measured on both sides where that side is known: ``to``/``client`` (the resource's own
  outbound series), ``from``/``client`` (other pods' outbound series towards it),
  ``from``/``server`` (its inbound series, the caller named by the series' own
  ``source_workload``: the calling sidecar's claim, backed by its verified identity, see
  ``proxy.inbound``; series of older sidecars without it fall back to the identity, when
  one workload runs as it),
  ``to``/``server`` (other pods' inbound series from it).  The other end is a workload
  (a namespace for namespaces); a pod's callers are seen at pod grain on the client side;
* **a TrafficSplit**: one item per backend, client side: outbound series to the apex
  service routed to that backend, with the backend's configured weight and measured share.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from traffic_metrics.model import KINDS, WORKLOAD_KINDS, Backend, Item, Kind, Ref
from traffic_metrics.samples import REQUESTS, RESPONSES, WIDTH, EdgeKey
from traffic_metrics.topology import PodInfo, Topology, matches

DIRECTION, SRC_NS, SRC_WORKLOAD, SRC_ID, DST_NS, DST_SERVICE, DST_WORKLOAD, DST_ID, ROUTE, BACKEND, TLS = range(11)
Reporter = tuple[str, str]  # (namespace, pod) of the sidecar that reported the series


@dataclass(slots=True)
class WindowData:
    when: float
    window: float
    rows: dict[Reporter, dict[EdgeKey, list[float]]] = field(default_factory=dict)


class NotFound(LookupError):
    pass


def _add(into: list[float], row: Iterable[float]) -> None:
    for i, v in enumerate(row):
        into[i] += v


def _zero() -> list[float]:
    return [0.0] * WIDTH


class Query:
    def __init__(self, topology: Topology, data: WindowData) -> None:
        self.topo = topology
        self.data = data

    # -- which objects exist, and which pods are theirs ---------------------------------------

    def resources(self, kind: Kind, namespace: str | None) -> dict[Ref, Mapping[str, str]]:
        """Every object of ``kind`` (in ``namespace``), with its labels."""
        t = self.topo
        out: dict[Ref, Mapping[str, str]] = {}
        if kind.plural == "namespaces":
            return {Ref("Namespace", "", ns): labels for ns, labels in t.namespaces.items()}
        if kind.plural == "pods":
            items = [(Ref("Pod", p.namespace, p.name), p.labels) for p in t.pods.values()]
        elif kind.plural == "services":
            items = [(Ref("Service", s.namespace, s.name), s.labels) for s in t.services.values()]
        elif kind.plural == "trafficsplits":
            items = [(Ref("TrafficSplit", s.namespace, s.name), s.labels) for s in t.splits.values()]
        else:
            items = [(Ref(w.kind, w.namespace, w.name), w.labels) for w in t.workloads.values() if w.kind == kind.kind]
        for ref, labels in items:
            if namespace is None or ref.namespace == namespace:
                out[ref] = labels
        return out

    def refs_of_pod(self, kind: Kind, pod: PodInfo) -> list[Ref]:
        if kind.plural == "namespaces":
            return [Ref("Namespace", "", pod.namespace)]
        if kind.plural == "pods":
            return [Ref("Pod", pod.namespace, pod.name)]
        if kind.plural in WORKLOAD_KINDS:
            return [Ref(pod.workload_kind, pod.namespace, pod.workload)] if pod.workload_kind == kind.kind else []
        if kind.plural == "services":
            return [
                Ref("Service", s.namespace, s.name)
                for s in self.topo.services.values()
                if s.namespace == pod.namespace and matches(s.selector, pod.labels)
            ]
        return []

    def _pod(self, reporter: Reporter) -> PodInfo:
        return self.topo.pods.get(reporter) or PodInfo(reporter[0], reporter[1])

    # -- resources ------------------------------------------------------------------------------

    def resource_items(
        self, kind: Kind, namespace: str | None, *, name: str | None = None, select: Callable[..., bool] | None = None
    ) -> list[Item]:
        if kind.plural == "trafficsplits":
            return self.split_items(namespace, name=name, select=select)
        wanted = self.resources(kind, namespace)
        if name is not None:
            wanted = {r: labels for r, labels in wanted.items() if r.name == name}
            if not wanted:
                where = f" in namespace {namespace}" if namespace else ""
                raise NotFound(f'{kind.plural} "{name}" not found{where}')
        if select is not None:
            wanted = {r: labels for r, labels in wanted.items() if select(labels)}
        sums: dict[Ref, list[float]] = {ref: _zero() for ref in wanted}
        for reporter, rows in self.data.rows.items():
            targets = [r for r in self.refs_of_pod(kind, self._pod(reporter)) if r in sums]
            if not targets:
                continue
            for key, row in rows.items():
                if key[DIRECTION] == "inbound":
                    for ref in targets:
                        _add(sums[ref], row)
        return [Item(resource=ref, row=row) for ref, row in sorted(sums.items(), key=lambda kv: _order(kv[0]))]

    # -- TrafficSplits ----------------------------------------------------------------------------

    def split_items(
        self, namespace: str | None, *, name: str | None = None, select: Callable[..., bool] | None = None
    ) -> list[Item]:
        splits = [
            s
            for s in sorted(self.topo.splits.values(), key=lambda s: (s.namespace, s.name))
            if (namespace is None or s.namespace == namespace) and (name is None or s.name == name)
        ]
        if name is not None and not splits:
            raise NotFound(f'trafficsplits "{name}" not found' + (f" in namespace {namespace}" if namespace else ""))
        if select is not None:
            splits = [s for s in splits if select(s.labels)]
        items: list[Item] = []
        for split in splits:
            per_backend: dict[str, list[float]] = {b: _zero() for b, _ in split.backends}
            for rows in self.data.rows.values():
                for key, row in rows.items():
                    if (
                        key[DIRECTION] == "outbound"
                        and key[DST_NS] == split.namespace
                        and key[DST_SERVICE] == split.apex
                        and key[BACKEND] in per_backend
                    ):
                        _add(per_backend[key[BACKEND]], row)
            total = sum(max(r[REQUESTS], r[RESPONSES]) for r in per_backend.values())
            ref = Ref("TrafficSplit", split.namespace, split.name)
            for backend, weight in split.backends:
                row = per_backend[backend]
                share = max(row[REQUESTS], row[RESPONSES]) / total if total else 0.0
                items.append(
                    Item(
                        resource=ref,
                        row=row,
                        side="client",
                        backend=Backend(split.apex, backend, weight),
                        share=share,
                    )
                )
        return items

    # -- edges ------------------------------------------------------------------------------------

    def edge_items(self, kind: Kind, namespace: str, name: str, *, by_route: bool = False) -> list[Item]:
        if kind.plural == "trafficsplits":
            raise NotFound("trafficsplits have no edges: their backends are the items of a get")
        resource = Ref(kind.kind, "" if not kind.namespaced else namespace, name)
        if resource not in self.resources(kind, None if not kind.namespaced else namespace):
            where = f" in namespace {namespace}" if kind.namespaced else ""
            raise NotFound(f'{kind.plural} "{name}" not found{where}')
        at_pod = kind.plural == "pods"
        sums: dict[tuple[str, str, Ref, str | None], list[float]] = defaultdict(_zero)
        sources: dict[tuple[str, str, str], Ref] = {}  # memo: the same callers recur on every sidecar
        towards: dict[tuple[str, str, str, str], bool] = {}
        for reporter, rows in self.data.rows.items():
            pod = self._pod(reporter)
            mine = resource in self.refs_of_pod(kind, pod)
            me = self._grain(kind, pod, at_pod)
            for key, row in rows.items():
                route = key[ROUTE] if by_route else None
                if key[DIRECTION] == "outbound":
                    if mine:
                        _add(sums[("to", "client", self._destination(kind, key), route)], row)
                    dst = (key[DST_NS], key[DST_SERVICE], key[DST_WORKLOAD], key[BACKEND])
                    inside = towards.get(dst)
                    if inside is None:
                        inside = towards[dst] = self._destination_in(kind, resource, key)
                    if inside:
                        _add(sums[("from", "client", me, route)], row)
                elif key[DIRECTION] == "inbound":
                    src = (key[SRC_NS], key[SRC_WORKLOAD], key[SRC_ID])
                    source = sources.get(src)
                    if source is None:
                        source = sources[src] = self._source(kind, key)
                    if mine:
                        _add(sums[("from", "server", source, route)], row)
                    if source == resource and not at_pod:
                        _add(sums[("to", "server", me, route)], row)
        items = [
            Item(resource=resource, row=row, direction=d, side=s, other=other, edges=True, route=route)
            for (d, s, other, route), row in sums.items()
        ]
        return sorted(items, key=lambda i: (i.direction, i.side, _order(i.other or Ref("")), i.route or ""))

    def _grain(self, kind: Kind, pod: PodInfo, at_pod: bool) -> Ref:
        if kind.plural == "namespaces":
            return Ref("Namespace", "", pod.namespace)
        if at_pod or not pod.workload:
            return Ref("Pod", pod.namespace, pod.name)
        return Ref(pod.workload_kind, pod.namespace, pod.workload)

    def _destination(self, kind: Kind, key: EdgeKey) -> Ref:
        ns = key[DST_NS]
        if kind.plural == "namespaces":
            return Ref("Namespace", "", ns)
        if key[DST_WORKLOAD]:
            return Ref(self.topo.workload_kind(ns, key[DST_WORKLOAD]), ns, key[DST_WORKLOAD])
        if key[DST_SERVICE]:
            return Ref("Service", ns, key[DST_SERVICE])
        return Ref("Namespace", "", ns) if ns else Ref("")

    def _destination_in(self, kind: Kind, resource: Ref, key: EdgeKey) -> bool:
        if kind.plural == "namespaces":
            return key[DST_NS] == resource.name
        if key[DST_NS] != resource.namespace:
            return False
        if kind.plural == "services":
            return resource.name in (key[DST_SERVICE], key[BACKEND])
        if kind.plural in WORKLOAD_KINDS:
            return (
                key[DST_WORKLOAD] == resource.name
                and self.topo.workload_kind(resource.namespace, resource.name) == resource.kind
            )
        return False

    def _source(self, kind: Kind, key: EdgeKey) -> Ref:
        ns = key[SRC_NS] or self.topo.namespace_of_identity(key[SRC_ID])
        if kind.plural == "namespaces":
            return Ref("Namespace", "", ns) if ns else Ref("")
        if key[SRC_WORKLOAD]:
            return Ref(self.topo.workload_kind(ns, key[SRC_WORKLOAD]), ns, key[SRC_WORKLOAD])
        found = self.topo.workload_of_identity(key[SRC_ID])
        if found is not None:
            return Ref(found[1], found[0], found[2])
        return Ref("Namespace", "", ns) if ns else Ref("")


def _order(ref: Ref) -> tuple[str, str, str]:
    return (ref.namespace, ref.kind, ref.name)


__all__ = ["KINDS", "NotFound", "Query", "WindowData"]
