"""MeshIndex: one snapshot, indexed once, so that compiling for each proxy is cheap.

A snapshot is a flat bag of objects.  The compile asks it the same questions again and
again (which pods does this selector pick? which pod has this IP? which workload owns
this pod? what are this service's endpoints?), so the index answers them from maps built
once per (snapshot, settings).  The groups' own kinds are looked up with ``objects(Kind)``
and ``by_name(Kind)``.  Derived results that every proxy shares (the groups'
contributions, per-identity outbound views) are memoised in the index
with ``memo(key, build, depends=...)``: the index is the explicit cache, dropped with its
snapshot.

Incremental: ``MeshIndex(snapshot, settings, previous=older)`` reuses what the older index
built from the same inputs.  The store copies only the bucket of the kind that changed
(copy-on-write), so a kind whose bucket is the *same object* in both snapshots did not
change; every lookup map built from unchanged kinds, and every memo entry whose declared
``depends`` kinds are all unchanged, is taken over as is.  A memo entry declared without
``depends`` is never carried over.  The result is exactly what a fresh index would
compute (buckets are immutable mappings; a hand-built snapshot with new buckets simply
shares nothing).
"""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Final, TypeVar, cast

from smi.compile.settings import MeshSettings
from smi.model import Deployment, Endpoints, EndpointSlice, Pod, ReplicaSet, Service
from smi.model.owners import Owner, replica_set_owner, workload_of
from smi.proxyconfig.spiffe import workload_id
from smi.state import Snapshot

T = TypeVar("T")
Key = tuple[str, str]  # (namespace, name)

# What Services' endpoints (and so every shared result built on them) are computed from
# (memo ``depends``), by hub kind.  The groups declare their own kinds (``smi.compile.groups``).
ENDPOINT_KINDS: Final = frozenset(
    {Service.KIND, Pod.KIND, Endpoints.KIND, EndpointSlice.KIND, Deployment.KIND, ReplicaSet.KIND}
)

INBOUND_PORT_ANNOTATION: Final = "smi-mesh.io/inbound-port"
APP_ADDRESS_ANNOTATION: Final = "smi-mesh.io/app-address"
LB_POLICY_ANNOTATION: Final = "smi-mesh.io/lb-policy"


class MeshIndex:
    """Lookups over one snapshot.  Build it with ``MeshIndex(snapshot, settings)``; never mutate it."""

    _pods_by_label: dict[tuple[str, str, str], set[str]]
    _pod_names_by_ns: dict[str, set[str]]
    _pods_by_ip: dict[str, list[Pod]]
    pods_by_identity: dict[str, list[Pod]]

    def __init__(self, snapshot: Snapshot, settings: MeshSettings, *, previous: MeshIndex | None = None) -> None:
        self.snapshot = snapshot
        self.settings = settings
        if previous is not None and previous.settings != settings:
            previous = None
        self.changed: frozenset[str] | None = None if previous is None else _changed_kinds(previous.snapshot, snapshot)

        def keep(*kinds: str) -> MeshIndex | None:
            """``previous`` when none of ``kinds`` changed since it was built."""
            if previous is None or self.changed is None or self.changed.intersection(kinds):
                return None
            return previous

        def by_key(kind: type[T], old: Callable[[MeshIndex], dict[Key, T]]) -> dict[Key, T]:
            same = keep(kind.KIND)  # type: ignore[attr-defined]
            return old(same) if same is not None else _by_key(snapshot.all(kind))

        self.services: dict[Key, Service] = by_key(Service, lambda i: i.services)
        self.pods: dict[Key, Pod] = by_key(Pod, lambda i: i.pods)
        self.endpoints_objects: dict[Key, Endpoints] = by_key(Endpoints, lambda i: i.endpoints_objects)

        same = keep(EndpointSlice.KIND)
        self.slices: dict[Key, list[EndpointSlice]] = same.slices if same else _slices_by_service(snapshot)
        same = keep(Service.KIND)
        self.services_by_ns: dict[str, list[Service]] = same.services_by_ns if same else _by_namespace(self.services)
        same = keep(Pod.KIND)
        if same is not None:
            self._pods_by_label = same._pods_by_label
            self._pod_names_by_ns = same._pod_names_by_ns
            self._pods_by_ip = same._pods_by_ip
            self.pods_by_identity = same.pods_by_identity
        else:
            self._index_pods()
        same = keep(Pod.KIND, Deployment.KIND, ReplicaSet.KIND)
        self._workloads: dict[Key, Owner] = same._workloads if same else self._owners(snapshot)

        self._memo: dict[object, object] = {}
        self._depends: dict[object, frozenset[str]] = {}
        if previous is not None and self.changed is not None:
            changed = self.changed
            for key, depends in previous._depends.items():
                if changed.isdisjoint(depends):
                    self._memo[key] = previous._memo[key]
                    self._depends[key] = depends
        self.carried = len(self._memo)  # memo entries taken over (for tests and benchmarks)

    def _owners(self, snapshot: Snapshot) -> dict[Key, Owner]:
        """(ns, pod) -> (kind, name) of the pod's workload (``smi.model.owners``).

        From the pod's controller ownerReference; a pod without one (a hand-written
        manifest: the goldens, ``smi apply`` of bare pods) belongs to the first Deployment,
        by name, whose selector picks it, as the ReplicaSet controller would adopt it.
        """
        replica_sets: dict[Key, Owner] = {}
        for rs in snapshot.all(ReplicaSet):
            ref = rs.meta.controller()
            replica_sets[(rs.meta.namespace, rs.meta.name)] = replica_set_owner(
                (ref.kind, ref.name) if ref is not None else None, rs.meta.name
            )
        owners: dict[Key, Owner] = {}
        adoptable: list[Pod] = []
        for (ns, name), pod in self.pods.items():
            ref = pod.meta.controller()
            if ref is None:
                adoptable.append(pod)
                continue
            found = workload_of((ref.kind, ref.name), pod.meta.labels, partial(_in_namespace, replica_sets, ns))
            if found[1]:
                owners[(ns, name)] = found
        if adoptable:
            bare = {(p.meta.namespace, p.meta.name) for p in adoptable}
            for dep in snapshot.all(Deployment):  # in name order: the first owner by name wins
                if not dep.selector:
                    continue
                for pod in self.select_pods(dep.meta.namespace, dep.selector):
                    key = (dep.meta.namespace, pod.meta.name)
                    if key in bare:
                        owners.setdefault(key, (Deployment.KIND, dep.meta.name))
        return owners

    def _index_pods(self) -> None:
        self._pods_by_label = defaultdict(set)
        self._pod_names_by_ns = defaultdict(set)
        self._pods_by_ip = defaultdict(list)
        self.pods_by_identity = defaultdict(list)
        for (ns, name), pod in self.pods.items():
            self._pod_names_by_ns[ns].add(name)
            for label, value in pod.meta.labels.items():
                self._pods_by_label[(ns, label, value)].add(name)
            if pod.pod_ip:
                self._pods_by_ip[pod.pod_ip].append(pod)
            self.pods_by_identity[self.identity_of(pod)].append(pod)

    # -- memoisation -----------------------------------------------------------------------

    def memo(self, key: object, build: Callable[[], T], *, depends: frozenset[str] | None = None) -> T:
        """The value of ``build()``, computed once per index for ``key``.

        ``depends``: the hub kinds the value is computed from (nothing else may matter but
        the settings); a later index built with ``previous=self`` takes the value over when
        none of them changed.  ``None``: never taken over.
        """
        try:
            return self._memo[key]  # type: ignore[return-value]
        except KeyError:
            value = self._memo[key] = build()
            if depends is not None:
                self._depends[key] = depends
            return value

    def memo_on(self, key: object, inputs: tuple[object, ...], build: Callable[[], T], *, depends: frozenset[str]) -> T:
        """Like ``memo``, for a value computed from ``inputs`` (objects of the snapshot) and ``depends``.

        The value is reused while ``inputs`` are the very same objects (``is``) and none of
        ``depends`` changed: a finer grain than a whole kind, e.g. the routes of one split
        root stay valid while that root's TrafficSplits are the same objects, whatever
        happens to other TrafficSplits.
        """
        hit = cast("tuple[tuple[object, ...], T] | None", self._memo.get(key))
        if hit is not None:
            seen, value = hit
            if len(seen) == len(inputs) and all(map(operator.is_, seen, inputs)):
                return value
        value = build()
        self._memo[key] = (inputs, value)
        self._depends[key] = depends
        return value

    # -- objects of any kind (for the groups) -----------------------------------------------

    def objects(self, kind: type[T]) -> tuple[T, ...]:
        """Every object of ``kind``, in (namespace, name) order (memoised; carried over while unchanged)."""
        name: str = kind.KIND  # type: ignore[attr-defined]
        return self.memo(("objects", name), lambda: tuple(self.snapshot.all(kind)), depends=frozenset({name}))

    def by_name(self, kind: type[T]) -> Mapping[Key, T]:
        """Every object of ``kind`` by (namespace, name) (memoised; carried over while unchanged)."""
        name: str = kind.KIND  # type: ignore[attr-defined]
        return self.memo(("by-name", name), lambda: _by_key(self.objects(kind)), depends=frozenset({name}))

    # -- pods ------------------------------------------------------------------------------

    def select_pods(self, namespace: str, selector: Mapping[str, str]) -> list[Pod]:
        """Pods of ``namespace`` whose labels include every pair of ``selector`` (name order).

        An empty selector selects nothing (a Service without a selector has no automatic endpoints).
        """
        if not selector:
            return []
        sets = [self._pods_by_label.get((namespace, k, v), set()) for k, v in selector.items()]
        sets.sort(key=len)
        names = set(sets[0]).intersection(*sets[1:]) if sets[0] else set()
        return [self.pods[(namespace, name)] for name in sorted(names)]

    def pod_by_ip(self, ip: str, *, namespace: str) -> Pod | None:
        """The pod with this IP, preferring one in ``namespace`` (IPs are unique in a real cluster)."""
        candidates = self._pods_by_ip.get(ip)
        if not candidates:
            return None
        for pod in candidates:
            if pod.meta.namespace == namespace:
                return pod
        return candidates[0]

    def identity_of(self, pod: Pod) -> str:
        return workload_id(self.settings.trust_domain, pod.meta.namespace, pod.spec.service_account)

    def workload_of(self, pod: Pod) -> str:
        """The name of the pod's workload ("" for none): see ``_owners`` and ``smi.model.owners``."""
        return self._workloads.get((pod.meta.namespace, pod.meta.name), ("", ""))[1]

    def workload_kind_of(self, pod: Pod) -> str:
        """The kind of the pod's workload (Deployment, StatefulSet, Rollout …; "" for none)."""
        return self._workloads.get((pod.meta.namespace, pod.meta.name), ("", ""))[0]

    @staticmethod
    def proxy_port_of(pod: Pod) -> int:
        """The pod's sidecar inbound port (annotation ``smi-mesh.io/inbound-port``), 0 if unmeshed."""
        raw = pod.meta.annotations.get(INBOUND_PORT_ANNOTATION, "")
        try:
            port = int(raw)
        except ValueError:
            return 0
        return port if 0 < port < 65536 else 0

    @staticmethod
    def is_serving(pod: Pod) -> bool:
        """A pod receives traffic through a Service selector when it has an IP and is ready or Running."""
        return bool(pod.pod_ip) and (pod.ready or pod.phase == "Running")


def _in_namespace(replica_sets: Mapping[Key, Owner], namespace: str, name: str) -> Owner | None:
    return replica_sets.get((namespace, name))


def _slices_by_service(snapshot: Snapshot) -> dict[Key, list[EndpointSlice]]:
    found: dict[Key, list[EndpointSlice]] = defaultdict(list)
    for eps in snapshot.all(EndpointSlice):
        if eps.service:
            found[(eps.meta.namespace, eps.service)].append(eps)
    return found


def _by_namespace(services: dict[Key, Service]) -> dict[str, list[Service]]:
    found: dict[str, list[Service]] = defaultdict(list)
    for svc in services.values():
        found[svc.meta.namespace].append(svc)
    return found


def _changed_kinds(old: Snapshot, new: Snapshot) -> frozenset[str]:
    """The kinds whose bucket is not the very same mapping in both snapshots."""
    kinds = set(old.objects) | set(new.objects)
    return frozenset(k for k in kinds if old.objects.get(k) is not new.objects.get(k))


def _by_key(objects: Iterable[T]) -> dict[Key, T]:
    return {(o.meta.namespace, o.meta.name): o for o in objects}  # type: ignore[attr-defined]
