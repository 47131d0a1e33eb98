"""The topology of a cluster, listed from its API server on an interval (for ``smi metrics-api``).

Pods (with their owners resolved to the top workload), ReplicaSets (only to follow
Deployment/Rollout ownership; Argo Rollouts themselves are known from their pods, with no
listing that fails where Argo is not installed), Deployments, StatefulSets, DaemonSets, Jobs, Services,
Namespaces and TrafficSplits (``split.smi-spec.io/v1alpha4``, every version is served by
the mesh's CRD).  A failed listing keeps the last good topology and is logged: the API
keeps answering from it.  The sidecar of each pod is scraped at ``podIP:admin_port``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from smi.model import owners
from traffic_metrics.kube import Kube, KubeError
from traffic_metrics.topology import PodInfo, ServiceInfo, SplitInfo, Topology, WorkloadInfo

logger = logging.getLogger(__name__)

WORKLOAD_PATHS = {
    "Deployment": "/apis/apps/v1/deployments",
    "StatefulSet": "/apis/apps/v1/statefulsets",
    "DaemonSet": "/apis/apps/v1/daemonsets",
    "Job": "/apis/batch/v1/jobs",
}
SPLITS_PATH = "/apis/split.smi-spec.io/v1alpha4/trafficsplits"
MESHED_ANNOTATION = "smi-mesh.io/inbound-port"


def _controller(meta: Mapping[str, Any]) -> tuple[str, str] | None:
    refs = [r for r in meta.get("ownerReferences") or () if isinstance(r, dict)]
    ref = next((r for r in refs if r.get("controller")), refs[0] if refs else None)
    return (str(ref.get("kind", "")), str(ref.get("name", ""))) if ref else None


def workload_of(
    pod_meta: Mapping[str, Any], replicaset_owners: Mapping[tuple[str, str], tuple[str, str]]
) -> tuple[str, str]:
    """(kind, name) of a pod's workload, as the compile names it (``smi.model.owners``)."""
    namespace = str(pod_meta.get("namespace", ""))
    labels = pod_meta.get("labels") or {}
    return owners.workload_of(
        _controller(pod_meta), labels if isinstance(labels, dict) else {},
        lambda name: replicaset_owners.get((namespace, name)),
    )  # fmt: skip


def build_topology(lists: Mapping[str, list[dict[str, Any]]], *, admin_port: int = 15000) -> Topology:
    rs_owners: dict[tuple[str, str], tuple[str, str]] = {}
    for rs in lists.get("replicasets", ()):
        meta = rs.get("metadata", {})
        name = str(meta.get("name", ""))
        rs_owners[(meta.get("namespace", ""), name)] = owners.replica_set_owner(_controller(meta), name)
    pods = []
    for pod in lists.get("pods", ()):
        meta, spec, status = pod.get("metadata", {}), pod.get("spec", {}), pod.get("status", {})
        kind, name = workload_of(meta, rs_owners)
        ip = status.get("podIP") or ""
        meshed = MESHED_ANNOTATION in (meta.get("annotations") or {}) or any(
            c.get("name") == "smi-proxy" for c in spec.get("containers") or () if isinstance(c, dict)
        )
        pods.append(
            PodInfo(
                namespace=meta.get("namespace", ""),
                name=meta.get("name", ""),
                labels=meta.get("labels") or {},
                workload_kind=kind,
                workload=name,
                service_account=spec.get("serviceAccountName") or "default",
                address=ip,
                metrics_url=f"http://{ip}:{admin_port}/metrics"
                if ip and meshed and status.get("phase") == "Running"
                else "",
            )
        )
    workloads = [
        WorkloadInfo(meta.get("namespace", ""), kind, meta.get("name", ""), meta.get("labels") or {})
        for kind in WORKLOAD_PATHS
        for meta in (w.get("metadata") for w in lists.get(kind, ()))
        if isinstance(meta, dict)
    ]
    services = [
        ServiceInfo(s["metadata"].get("namespace", ""), s["metadata"].get("name", ""),
                    (s.get("spec") or {}).get("selector"), s["metadata"].get("labels") or {})
        for s in lists.get("services", ())
    ]  # fmt: skip
    splits = []
    for t in lists.get("trafficsplits", ()):
        spec = t.get("spec") or {}
        backends = tuple(
            (str(b.get("service", "")), float(b.get("weight", 0) or 0))
            for b in spec.get("backends") or ()
            if isinstance(b, dict)
        )
        meta = t.get("metadata", {})
        splits.append(SplitInfo(meta.get("namespace", ""), meta.get("name", ""), str(spec.get("service", "")), backends,
                                meta.get("labels") or {}))  # fmt: skip
    namespaces = [
        (n["metadata"].get("name", ""), n["metadata"].get("labels") or {}) for n in lists.get("namespaces", ())
    ]
    return Topology(pods=pods, services=services, splits=splits, workloads=workloads, namespaces=namespaces)


@dataclass
class ClusterTopology:
    kube: Kube
    interval: float = 10.0
    admin_port: int = 15000
    current: Topology = field(default_factory=Topology)
    lists: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    synced: bool = False

    async def refresh(self) -> None:
        paths = {
            "pods": "/api/v1/pods",
            "replicasets": "/apis/apps/v1/replicasets",
            "services": "/api/v1/services",
            "namespaces": "/api/v1/namespaces",
            "trafficsplits": SPLITS_PATH,
            **WORKLOAD_PATHS,
        }
        for key, path in paths.items():
            try:
                self.lists[key] = await self.kube.items(path)
            except KubeError as exc:
                logger.warning("listing %s failed (keeping the last good list): %s", key, exc)
        self.current = build_topology(self.lists, admin_port=self.admin_port)
        self.synced = True

    def topology(self) -> Topology:
        return self.current

    def targets(self) -> list[PodInfo]:
        return [p for p in self.current.pods.values() if p.metrics_url]

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:
                logger.exception("topology refresh failed")
            await asyncio.sleep(self.interval)  # the listing interval
