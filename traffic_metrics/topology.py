"""What the metrics are about: pods, the workloads that own them, services and TrafficSplits.

The query layer groups the sidecars' edge series by the Kubernetes objects a user asks
about; this is the index it needs, independent of where it came from (the local runtime's
store, or a cluster's API server).  Pure data plus lookups, no I/O.

A pod's workload is its top controller, found from ``ownerReferences``: a ReplicaSet owned
by a Deployment (or an Argo Rollout) names that owner; a Job owned by a CronJob stays the
Job; StatefulSets, DaemonSets and bare ReplicaSets/Jobs name themselves.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

Labels = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class PodInfo:
    namespace: str
    name: str
    labels: Labels = field(default_factory=dict)
    workload_kind: str = ""  # Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, Rollout ("" bare pod)
    workload: str = ""
    service_account: str = "default"
    address: str = ""
    metrics_url: str = ""  # the sidecar's /metrics


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    namespace: str
    name: str
    selector: Labels | None = None
    labels: Labels = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SplitInfo:
    namespace: str
    name: str
    apex: str
    backends: tuple[tuple[str, float], ...] = ()  # (service, weight)
    labels: Labels = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WorkloadInfo:
    namespace: str
    kind: str
    name: str
    labels: Labels = field(default_factory=dict)


def matches(selector: Labels | None, labels: Labels) -> bool:
    return selector is not None and bool(selector) and all(labels.get(k) == v for k, v in selector.items())


class Topology:
    def __init__(
        self,
        *,
        pods: Iterable[PodInfo] = (),
        services: Iterable[ServiceInfo] = (),
        splits: Iterable[SplitInfo] = (),
        workloads: Iterable[WorkloadInfo] = (),
        namespaces: Iterable[tuple[str, Labels]] = (),
    ) -> None:
        self.pods: dict[tuple[str, str], PodInfo] = {(p.namespace, p.name): p for p in pods}
        self.services: dict[tuple[str, str], ServiceInfo] = {(s.namespace, s.name): s for s in services}
        self.splits: dict[tuple[str, str], SplitInfo] = {(s.namespace, s.name): s for s in splits}
        self.namespaces: dict[str, Labels] = dict(namespaces)
        self.workloads: dict[tuple[str, str, str], WorkloadInfo] = {(w.namespace, w.kind, w.name): w for w in workloads}
        self.kind_of_workload: dict[tuple[str, str], str] = {}
        self.by_account: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
        for pod in self.pods.values():
            self.namespaces.setdefault(pod.namespace, {})
            if pod.workload:
                key = (pod.namespace, pod.workload_kind, pod.workload)
                self.workloads.setdefault(key, WorkloadInfo(pod.namespace, pod.workload_kind, pod.workload))
                self.by_account[(pod.namespace, pod.service_account)].add((pod.workload_kind, pod.workload))
        for workload in self.workloads.values():
            self.kind_of_workload.setdefault((workload.namespace, workload.name), workload.kind)
            self.namespaces.setdefault(workload.namespace, {})
        self._service_pods: dict[tuple[str, str], set[str]] = {}

    def workload_kind(self, namespace: str, name: str) -> str:
        return self.kind_of_workload.get((namespace, name), "Deployment")

    def workload_of_identity(self, identity: str) -> tuple[str, str, str] | None:
        """(namespace, kind, name) of the one workload running as ``spiffe://TD/ns/NS/sa/SA``."""
        parts = identity.split("/")
        if len(parts) != 7 or parts[3] != "ns" or parts[5] != "sa":
            return None
        namespace, account = parts[4], parts[6]
        found = self.by_account.get((namespace, account), set())
        if len(found) != 1:
            return None
        kind, name = next(iter(found))
        return namespace, kind, name

    def namespace_of_identity(self, identity: str) -> str:
        parts = identity.split("/")
        return parts[4] if len(parts) == 7 and parts[3] == "ns" else ""

    def service_pods(self, namespace: str, name: str) -> set[str]:
        key = (namespace, name)
        cached = self._service_pods.get(key)
        if cached is None:
            svc = self.services.get(key)
            cached = {
                p.name
                for p in self.pods.values()
                if svc is not None and p.namespace == namespace and matches(svc.selector, p.labels)
            }
            self._service_pods[key] = cached
        return cached
