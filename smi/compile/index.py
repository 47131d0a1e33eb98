"""MeshIndex: one snapshot, indexed once, so that compiling for each proxy is cheap.

A snapshot is a flat bag of objects.  The compile asks it the same questions again and
again (which pods does this selector pick? which pod has this IP? which Deployment owns
this pod? what are this service's endpoints?), so the index answers them from maps built
once per (snapshot, settings).  Derived results that every proxy shares (the compiled
splits, the compiled access rules, per-identity outbound views) are memoised in the index
with ``memo(key, build)``: the index is the explicit cache, dropped with its snapshot.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Final, TypeVar

from smi.compile.identities import spiffe_id
from smi.compile.settings import MeshSettings
from smi.model import (
    Deployment,
    Endpoints,
    EndpointSlice,
    HTTPRouteGroup,
    Pod,
    Service,
    TCPRoute,
    TrafficSplit,
    TrafficTarget,
    UDPRoute,
)
from smi.state import Snapshot

T = TypeVar("T")
Key = tuple[str, str]  # (namespace, name)

INBOUND_PORT_ANNOTATION: Final = "smi-mesh.io/inbound-port"
APP_ADDRESS_ANNOTATION: Final = "smi-mesh.io/app-address"
LB_POLICY_ANNOTATION: Final = "smi-mesh.io/lb-policy"


class MeshIndex:
    """Lookups over one snapshot.  Build it with ``MeshIndex(snapshot, settings)``; never mutate it."""

    def __init__(self, snapshot: Snapshot, settings: MeshSettings) -> None:
        self.snapshot = snapshot
        self.settings = settings
        self.services: dict[Key, Service] = _by_key(snapshot.all(Service))
        self.pods: dict[Key, Pod] = _by_key(snapshot.all(Pod))
        self.route_groups: dict[Key, HTTPRouteGroup] = _by_key(snapshot.all(HTTPRouteGroup))
        self.tcp_routes: dict[Key, TCPRoute] = _by_key(snapshot.all(TCPRoute))
        self.udp_routes: dict[Key, UDPRoute] = _by_key(snapshot.all(UDPRoute))
        self.splits: tuple[TrafficSplit, ...] = tuple(snapshot.all(TrafficSplit))
        self.targets: tuple[TrafficTarget, ...] = tuple(snapshot.all(TrafficTarget))
        self.endpoints_objects: dict[Key, Endpoints] = _by_key(snapshot.all(Endpoints))

        self.slices: dict[Key, list[EndpointSlice]] = defaultdict(list)
        for eps in snapshot.all(EndpointSlice):
            if eps.service:
                self.slices[(eps.meta.namespace, eps.service)].append(eps)

        self.services_by_ns: dict[str, list[Service]] = defaultdict(list)
        for svc in self.services.values():
            self.services_by_ns[svc.meta.namespace].append(svc)

        self._pods_by_label: dict[tuple[str, str, str], set[str]] = defaultdict(set)
        self._pod_names_by_ns: dict[str, set[str]] = defaultdict(set)
        self._pods_by_ip: dict[str, list[Pod]] = defaultdict(list)
        self.pods_by_identity: dict[str, list[Pod]] = defaultdict(list)
        for (ns, name), pod in self.pods.items():
            self._pod_names_by_ns[ns].add(name)
            for label, value in pod.meta.labels.items():
                self._pods_by_label[(ns, label, value)].add(name)
            if pod.pod_ip:
                self._pods_by_ip[pod.pod_ip].append(pod)
            self.pods_by_identity[self.identity_of(pod)].append(pod)

        self._workloads: dict[Key, str] = {}
        for dep in snapshot.all(Deployment):  # in name order: the first owner by name wins
            if not dep.selector:
                continue
            for pod in self.select_pods(dep.meta.namespace, dep.selector):
                self._workloads.setdefault((dep.meta.namespace, pod.meta.name), dep.meta.name)

        self._memo: dict[object, object] = {}

    # -- memoisation -----------------------------------------------------------------------

    def memo(self, key: object, build: Callable[[], T]) -> T:
        """The value of ``build()``, computed once per index for ``key``."""
        try:
            return self._memo[key]  # type: ignore[return-value]
        except KeyError:
            value = self._memo[key] = build()
            return value

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
        return spiffe_id(self.settings.trust_domain, pod.meta.namespace, pod.spec.service_account)

    def workload_of(self, pod: Pod) -> str:
        """The name of the Deployment whose selector picks the pod ("" when none does)."""
        return self._workloads.get((pod.meta.namespace, pod.meta.name), "")

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


def _by_key(objects: Iterable[T]) -> dict[Key, T]:
    return {(o.meta.namespace, o.meta.name): o for o in objects}  # type: ignore[attr-defined]
