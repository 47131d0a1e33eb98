"""Every workload kind gets its figures: the compile's labels, the sidecar's series, both sources, the canary queries.

Pods of a Deployment (through a known ReplicaSet), an Argo Rollout (through a known
ReplicaSet), a StatefulSet, a DaemonSet and a Job, each called by a Deployment's pod
whose ReplicaSet is not known yet.  The compile names each pod's workload (the real
``Compiler``); the sidecar's own code labels its inbound series with it and with the
caller's backed claim (``proxy.inbound``) and renders its exposition (``proxy.metrics``);
a loopback HTTP server serves each pod's text.  The metrics API answers the same for
every kind from the direct source and from a real Prometheus, names the caller on the
server side, and the shipped Flagger and Argo queries answer for every kind's name.
"""

from __future__ import annotations

import asyncio
import dataclasses
import http.server
import re
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from proxy.compiled import compile_config
from proxy.exposition import render
from proxy.inbound import backed_claim, inbound_labels
from proxy.metrics import Metrics, MetricsCollector
from smi.compile import Compiler, MeshSettings
from smi.groups import MESH_GROUPS
from smi.model.parsing import parse
from tests.compile.manifests import snapshot_of
from tests.metrics.prometheus import Prometheus, running_prometheus
from tests.waiting import wait_until
from traffic_metrics.cluster import build_topology
from traffic_metrics.direct import DirectSource
from traffic_metrics.quantity import parse_quantity
from traffic_metrics.server import MetricsApi, make_app
from traffic_metrics.topology import Topology

pytestmark = pytest.mark.timeout(300)
REPO = Path(__file__).resolve().parents[2]
NS = "shop"
BASE = "/apis/metrics.smi-spec.io/v1alpha1"
SETTINGS = MeshSettings(permissive=True)
CALLER = "buyer-5c9f-x"
# pod -> (its controller reference, hash labels, the (plural, name) a user asks about, ok, 5xx)
CALLEES: dict[str, tuple[tuple[str, str, str], dict[str, str], tuple[str, str], int, int]] = {
    "web-6d8b-a": (("apps/v1", "ReplicaSet", "web-6d8b"), {"pod-template-hash": "6d8b"}, ("deployments", "web"), 9, 1),
    "canary-7f4-a": (("apps/v1", "ReplicaSet", "canary-7f4"), {"rollouts-pod-template-hash": "7f4"},
                     ("rollouts", "canary"), 8, 2),
    "db-0": (("apps/v1", "StatefulSet", "db"), {}, ("statefulsets", "db"), 7, 3),
    "agent-x": (("apps/v1", "DaemonSet", "agent"), {}, ("daemonsets", "agent"), 6, 4),
    "migrate-q": (("batch/v1", "Job", "migrate"), {}, ("jobs", "migrate"), 5, 5),
}  # fmt: skip


def _pod(name: str, ip: str, owner: tuple[str, str, str], labels: dict[str, str], account: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name, "namespace": NS, "labels": {"app": name, **labels},
            "annotations": {"smi-mesh.io/inbound-port": "15003"},
            "ownerReferences": [{"apiVersion": owner[0], "kind": owner[1], "name": owner[2], "controller": True}],
        },
        "spec": {"serviceAccountName": account, "containers": [{"name": "app", "ports": [{"containerPort": 8080}]}]},
        "status": {"podIP": ip, "phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }  # fmt: skip


def _replica_set(name: str, owner: tuple[str, str, str]) -> dict[str, Any]:
    ref = {"apiVersion": owner[0], "kind": owner[1], "name": owner[2], "controller": True}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name, "namespace": NS,
            "ownerReferences": [ref]}}  # fmt: skip


PODS = [_pod(CALLER, "198.18.7.1", ("apps/v1", "ReplicaSet", "buyer-5c9f"), {"pod-template-hash": "5c9f"}, "buyer")]
PODS += [
    _pod(name, f"198.18.7.{i + 2}", owner, labels, name.split("-")[0])
    for i, (name, (owner, labels, _, _, _)) in enumerate(CALLEES.items())
]
REPLICA_SETS = [
    _replica_set("web-6d8b", ("apps/v1", "Deployment", "web")),
    _replica_set("canary-7f4", ("argoproj.io/v1alpha1", "Rollout", "canary")),
]  # buyer's ReplicaSet is not known yet: its name loses the hash


class Sidecars:
    """Each callee pod's sidecar metrics, labelled by the sidecar's own code from its compiled config."""

    def __init__(self) -> None:
        snapshot = snapshot_of([parse(raw) for raw in PODS + REPLICA_SETS])
        compiler = Compiler(SETTINGS, MESH_GROUPS)
        caller = compiler.compile_proxy(snapshot, namespace=NS, pod=CALLER)
        assert caller is not None
        self.caller = caller.node
        self.metrics: dict[str, Metrics] = {}
        self.labels: dict[str, tuple[str, ...]] = {}
        for name in CALLEES:
            config = compiler.compile_proxy(snapshot, namespace=NS, pod=name)
            assert config is not None
            metrics = self.metrics[name] = Metrics()
            claim = backed_claim(f"{self.caller.namespace}/{self.caller.workload}", self.caller.identity, metrics)
            self.labels[name] = inbound_labels(
                compile_config(config), self.caller.identity, "all", source=claim, tls=True
            )

    def serve(self, name: str, ok: int, failed: int) -> None:
        stats = self.metrics[name].edge(self.labels[name])  # type: ignore[arg-type]
        for i in range(ok + failed):
            stats.requests += 1
            stats.response(500 if i >= ok else 200, 0.02)

    def text(self, name: str) -> bytes:
        return render(MetricsCollector(self.metrics[name]).families())


@dataclasses.dataclass
class Mesh:
    sidecars: Sidecars
    topology: Topology
    direct: DirectSource
    prometheus: Prometheus


async def _serving(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"127.0.0.1:{port}"


class Exposition:
    """Each pod's ``/pods/<pod>/metrics`` on loopback, served from a thread (the test's loop stays free)."""

    def __init__(self, sidecars: Sidecars) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = self.path.strip("/").split("/")
                if len(parts) != 3 or parts[0] != "pods" or parts[2] != "metrics" or parts[1] not in CALLEES:
                    self.send_error(404)
                    return
                body = sidecars.text(parts[1])
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="exposition", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
async def mesh(tmp_path: Path) -> AsyncIterator[Mesh]:
    sidecars = Sidecars()
    for name, (_, _, _, ok, failed) in CALLEES.items():
        sidecars.serve(name, ok, failed)
    exposition = Exposition(sidecars)
    address = exposition.address
    cluster = build_topology({"pods": PODS, "replicasets": REPLICA_SETS})
    pods = [
        dataclasses.replace(p, metrics_url=f"http://{address}/pods/{p.name}/metrics" if p.name in CALLEES else "")
        for p in cluster.pods.values()
    ]
    topology = Topology(pods=pods, namespaces=[(NS, {})])
    direct = DirectSource(targets=lambda: pods, interval=1.0)
    targets = [(NS, name, address) for name in CALLEES]
    paths = {name: f"/pods/{name}/metrics" for name in CALLEES}
    try:
        with running_prometheus(tmp_path / "prometheus", targets, paths=paths) as prometheus:
            await _scraped(prometheus, direct, 1)
            # the same mix again while Prometheus watches: what rate() in the canary queries sees
            for name, (_, _, _, ok, failed) in CALLEES.items():
                sidecars.serve(name, ok, failed)
            await _scraped(prometheus, direct, 2)
            yield Mesh(sidecars, topology, direct, prometheus)
    finally:
        exposition.close()


async def _scraped(prometheus: Prometheus, direct: DirectSource, rounds: int) -> None:
    """Both sources have seen ``rounds`` batches of every callee's traffic."""
    expected = {name: rounds * (c[3] + c[4]) for name, c in CALLEES.items()}

    def seen() -> bool:
        got = prometheus.query(f'sum by (pod) (smi_responses_total{{namespace="{NS}"}})')
        return {r["metric"]["pod"]: int(float(r["value"][1])) for r in got} == expected

    await wait_until(lambda: asyncio.to_thread(seen), within=60, what=f"prometheus to have scraped {expected}")
    await direct.scrape_once()
    assert not direct.failing, direct.failing


def figures(obj: dict[str, Any]) -> dict[str, float]:
    return {x["name"]: parse_quantity(x["value"]) for x in obj["metrics"]}


@pytest.fixture
def sources(mesh: Mesh) -> Iterator[dict[str, MetricsApi]]:
    from traffic_metrics.promsource import PrometheusSource

    yield {
        "direct": MetricsApi(topology=lambda: mesh.topology, source=mesh.direct),
        "prometheus": MetricsApi(topology=lambda: mesh.topology, source=PrometheusSource(mesh.prometheus.url)),
    }


async def test_every_kind_is_named_and_measured_alike_by_both_sources(
    mesh: Mesh, sources: dict[str, MetricsApi]
) -> None:
    assert mesh.sidecars.caller.workload == "buyer"
    assert {n: mesh.sidecars.labels[n][6] for n in CALLEES} == {n: c[2][1] for n, c in CALLEES.items()}
    answers: dict[str, dict[str, Any]] = {}
    for source, api in sources.items():
        runner, address = await _serving(make_app(api))
        try:
            async with aiohttp.ClientSession() as session:
                for _, _, (plural, workload), ok, failed in CALLEES.values():
                    base = f"http://{address}{BASE}/namespaces/{NS}/{plural}/{workload}"
                    async with session.get(base + "?window=5m") as response:
                        assert response.status == 200, await response.text()
                        got = await response.json()
                    async with session.get(base + "/edges?window=5m") as response:
                        edges = await response.json()
                    f = figures(got)
                    assert (f["success_count"], f["failure_count"]) == (2 * ok, 2 * failed), (source, plural)
                    assert f["mtls_share"] == 1
                    callers = [i["edge"]["resource"] for i in edges["items"] if i["edge"]["side"] == "server"]
                    assert callers == [{"kind": "Deployment", "namespace": NS, "name": "buyer"}], (source, plural)
                    answers[f"{source} {plural}"] = f
                async with session.get(f"http://{address}{BASE}/namespaces/{NS}/deployments/buyer/edges") as r:
                    called = {i["edge"]["resource"]["name"] for i in (await r.json())["items"]}
                assert called == {c[2][1] for c in CALLEES.values()}, source
        finally:
            await runner.cleanup()
    for _, _, (plural, _), _, _ in CALLEES.values():
        assert answers[f"direct {plural}"] == answers[f"prometheus {plural}"], plural


def test_the_canary_queries_answer_for_every_kind(mesh: Mesh) -> None:
    flagger = list(yaml.safe_load_all((REPO / "manifests/metrics/flagger-metric-templates.yaml").read_text()))
    success_query = next(t["spec"]["query"] for t in flagger if t["metadata"]["name"] == "smi-request-success-rate")
    argo = yaml.safe_load((REPO / "manifests/metrics/argo-analysis-template.yaml").read_text())
    rate_query = next(
        x["provider"]["prometheus"]["query"] for x in argo["spec"]["metrics"] if x["name"] == "success-rate"
    )
    for _, _, (plural, workload), ok, failed in CALLEES.values():
        flagger_query = success_query.replace("{{ namespace }}", NS).replace("{{ target }}", workload)
        flagger_query = flagger_query.replace("{{ interval }}", "5m")
        got = mesh.prometheus.query(flagger_query)
        assert got, (plural, "no series for the workload")
        assert abs(float(got[0]["value"][1]) - 100 * ok / (ok + failed)) < 0.01, plural
        argo_query = _argo(rate_query, {"namespace": NS, "workload": workload, "window": "5m"})
        assert abs(float(mesh.prometheus.query(argo_query)[0]["value"][1]) - ok / (ok + failed)) < 0.0001, plural


def _argo(query: str, args: dict[str, str]) -> str:
    """The AnalysisTemplate's query with its ``{{args.NAME}}`` filled in, as Argo Rollouts does."""
    return re.sub(r"\{\{args\.(\w+)\}\}", lambda match: args[match.group(1)], query)
