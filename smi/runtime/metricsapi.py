"""The TrafficMetrics API inside ``smi up``: the same paths as in a cluster, on the control address.

The runtime's pods are the direct source's scrape targets (each sidecar's admin
``/metrics``), its store gives the topology (namespaces, Deployments, Services,
TrafficSplits), and ``<state dir>/kubeconfig`` points kubectl at the control API::

    kubectl --kubeconfig .smi/kubeconfig get trafficmetrics.metrics.smi-spec.io -n bookstore
    kubectl --kubeconfig .smi/kubeconfig get --raw \
        /apis/metrics.smi-spec.io/v1alpha1/namespaces/bookstore/deployments/bookbuyer/edges

Pods that stopped stay in the topology while the source still holds their history, so a
rolled Deployment's numbers do not vanish with its old pods.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from smi.model import Deployment, Namespace, Service, TrafficSplit
from smi.runtime.addresses import ADMIN_PORT
from smi.runtime.pods import OWNER_ANNOTATION
from smi.runtime.running import LocalRuntime
from traffic_metrics.direct import DirectSource
from traffic_metrics.server import MetricsApi, add_routes
from traffic_metrics.topology import PodInfo, ServiceInfo, SplitInfo, Topology, WorkloadInfo

SCRAPE_INTERVAL = float(os.environ.get("SMI_METRICS_INTERVAL", "2"))
KUBECONFIG = "kubeconfig"


class LocalMetrics:
    def __init__(self, runtime: LocalRuntime, *, interval: float = SCRAPE_INTERVAL) -> None:
        self.runtime = runtime
        self.seen: dict[tuple[str, str], PodInfo] = {}
        self.source = DirectSource(targets=self.targets, interval=interval)

    def _pod_infos(self) -> list[PodInfo]:
        found = []
        for runner in self.runtime.pods.values():
            pod = runner.pod
            if not runner.ready or runner.stopped:
                continue  # scrape ready sidecars only: a starting or stopping pod is not an error
            ip = pod.pod_ip or ""
            owner = pod.meta.annotations.get(OWNER_ANNOTATION, "")
            found.append(
                PodInfo(
                    namespace=pod.meta.namespace,
                    name=pod.meta.name,
                    labels=dict(pod.meta.labels),
                    workload_kind="Deployment" if owner else "",
                    workload=owner,
                    service_account=pod.spec.service_account,
                    address=ip,
                    metrics_url=f"http://{ip}:{ADMIN_PORT}/metrics" if ip else "",
                )
            )
        return found

    def targets(self) -> list[PodInfo]:
        pods = self._pod_infos()
        for pod in pods:
            self.seen[(pod.namespace, pod.name)] = pod
        current = {(p.namespace, p.name) for p in pods}
        for key in [k for k in self.seen if k not in self.source.histories and k not in current]:
            del self.seen[key]
        return pods

    def topology(self) -> Topology:
        snapshot = self.runtime.store.snapshot()
        current = {(p.namespace, p.name): p for p in self._pod_infos()}
        pods = {**self.seen, **current}
        return Topology(
            pods=pods.values(),
            services=[
                ServiceInfo(s.meta.namespace, s.meta.name, s.selector, dict(s.meta.labels))
                for s in snapshot.all(Service)
            ],
            splits=[
                SplitInfo(
                    t.meta.namespace,
                    t.meta.name,
                    t.service,
                    tuple((b.service, float(b.weight)) for b in t.backends),
                    dict(t.meta.labels),
                )
                for t in snapshot.all(TrafficSplit)
            ],
            workloads=[
                WorkloadInfo(d.meta.namespace, "Deployment", d.meta.name, dict(d.meta.labels))
                for d in snapshot.all(Deployment)
            ],
            namespaces=[(n.meta.name, dict(n.meta.labels)) for n in snapshot.all(Namespace)],
        )

    def api(self) -> MetricsApi:
        return MetricsApi(topology=self.topology, source=self.source)


def install(app: web.Application, runtime: LocalRuntime) -> LocalMetrics:
    """Serve the API on ``app`` and scrape while the app runs."""
    metrics = LocalMetrics(runtime)
    add_routes(app, metrics.api())

    async def scraping(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(metrics.source.run(), name="metrics scrape")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(scraping)
    return metrics


def metrics_view(runtime: LocalRuntime) -> dict[str, str]:
    """What ``smi status`` shows: where the metrics API is and the kubeconfig for kubectl."""
    from smi.runtime import statefile

    info = statefile.read(runtime.settings.state_dir)
    if info is None or info.runtime_id != runtime.runtime_id:
        return {}
    return {
        "metrics_api": f"{info.control_url}/apis/metrics.smi-spec.io/v1alpha1",
        "kubeconfig": str(runtime.settings.state_dir / KUBECONFIG),
        "dashboard": f"{info.control_url}/dashboard/",
    }


def kubeconfig_text(control_url: str) -> str:
    return f"""\
apiVersion: v1
kind: Config
clusters:
  - name: smi-local
    cluster:
      server: {control_url}
contexts:
  - name: smi-local
    context:
      cluster: smi-local
      user: smi-local
      namespace: default
current-context: smi-local
users:
  - name: smi-local
    user: {{}}
preferences: {{}}
"""


def write_kubeconfig(state_dir: Path, control_url: str) -> Path:
    """``<state dir>/kubeconfig`` for kubectl against the local mesh's metrics API."""
    path = state_dir / KUBECONFIG
    tmp = path.with_suffix(".tmp")
    tmp.write_text(kubeconfig_text(control_url))
    tmp.replace(path)
    return path


def remove_kubeconfig(state_dir: Path) -> None:
    (state_dir / KUBECONFIG).unlink(missing_ok=True)
