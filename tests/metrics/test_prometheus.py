"""The Prometheus source and the direct source agree, and the shipped canary queries run on Prometheus.

A real Prometheus scrapes the known-traffic mesh's sidecars (loopback, temp storage); the
API served from it (in this process, with the mesh's topology) must give the same counts
as ``smi up``'s embedded source and latencies within one histogram bucket; the Flagger and
Argo Rollouts templates, rendered as those tools would, answer 75 % and a p99 near 200 ms.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from tests.metrics import manifests as m
from tests.metrics.conftest import BASE, FAILED_REQUESTS, OK_REQUESTS, KnownTraffic
from tests.metrics.prometheus import Prometheus, running_prometheus
from tests.runtime.harness import wait_for
from traffic_metrics.model import METRIC_NAMES
from traffic_metrics.promsource import PrometheusSource
from traffic_metrics.quantity import parse_quantity
from traffic_metrics.samples import BOUNDS
from traffic_metrics.server import MetricsApi, make_app
from traffic_metrics.topology import PodInfo, Topology

pytestmark = pytest.mark.timeout(300)
REPO = Path(__file__).resolve().parents[2]
NS = m.NAMESPACE
MORE_OK, MORE_FAILED = 12, 4


@pytest.fixture(scope="module")
def prometheus(known: KnownTraffic, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    pods = known.mesh.status()["pods"]
    targets = [(p["namespace"], p["name"], f"{p['ip']}:15000") for p in pods]
    with running_prometheus(tmp_path_factory.mktemp("prometheus"), targets) as prom:

        def has(total: int) -> bool:
            got = prom.query(f'sum(smi_responses_total{{namespace="{NS}"}})')
            return bool(got) and float(got[0]["value"][1]) >= 2 * total

        wait_for("prometheus to have scraped the known traffic", lambda: has(OK_REQUESTS + FAILED_REQUESTS), within=60)
        # More of the same mix while Prometheus watches: what rate() in the canary queries sees.
        assert known.send("/ok", MORE_OK) == [200] * MORE_OK
        assert known.send("/fail", MORE_FAILED) == [500] * MORE_FAILED
        total = OK_REQUESTS + FAILED_REQUESTS + MORE_OK + MORE_FAILED
        wait_for("prometheus to have scraped the later traffic", lambda: has(total), within=60)
        wait_for("smi up to have scraped it too", lambda: _direct_total(known) == total, within=60)
        yield prom


def _direct_total(known: KnownTraffic) -> float:
    return sum(figures(known.api(f"{BASE}/namespaces/{NS}/deployments/server?window=5m"))[k]
               for k in ("success_count", "failure_count"))  # fmt: skip


def topology_of(known: KnownTraffic) -> Topology:
    pods = [
        PodInfo(
            p["namespace"],
            p["name"],
            workload_kind="Deployment",
            workload=p["deployment"],
            service_account=p["deployment"],
        )
        for p in known.mesh.status()["pods"]
    ]
    return Topology(pods=pods)


@pytest.fixture
async def prom_api(known: KnownTraffic, prometheus: Prometheus) -> AsyncIterator[str]:
    api = MetricsApi(topology=lambda: topology_of(known), source=PrometheusSource(prometheus.url))
    runner = web.AppRunner(make_app(api))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def bucket_index(ms: float) -> int:
    return next(i for i, bound in enumerate(BOUNDS) if ms / 1000 <= bound + 1e-12)


def figures(obj: dict[str, Any]) -> dict[str, float]:
    return {x["name"]: parse_quantity(x["value"]) for x in obj["metrics"]}


def assert_same(direct: dict[str, Any], prom: dict[str, Any]) -> None:
    d, p = figures(direct), figures(prom)
    assert (d["success_count"], d["failure_count"]) == (p["success_count"], p["failure_count"])
    assert d["mtls_share"] == p["mtls_share"]
    for name in METRIC_NAMES[:3]:
        assert abs(bucket_index(d[name]) - bucket_index(p[name])) <= 1, (name, d[name], p[name])


async def test_both_sources_give_the_same_traffic_metrics(known: KnownTraffic, prom_api: str) -> None:
    import aiohttp

    paths = [
        f"{BASE}/namespaces/{NS}/deployments/server?window=5m",
        f"{BASE}/namespaces/{NS}?window=5m",
        f"{BASE}/namespaces/{NS}/pods?window=5m",
    ]
    async with aiohttp.ClientSession() as session:
        for path in paths:
            async with session.get(prom_api + path) as response:
                prom = await response.json()
            direct = known.api(path)
            if prom["kind"] == "TrafficMetricsList":
                by_name = {i["metadata"]["name"]: i for i in prom["items"]}
                assert set(by_name) <= {i["metadata"]["name"] for i in direct["items"]}
                for item in direct["items"]:
                    if item["metadata"]["name"] in by_name:
                        assert_same(item, by_name[item["metadata"]["name"]])
            else:
                assert_same(direct, prom)
                assert figures(prom)["failure_count"] == FAILED_REQUESTS + MORE_FAILED
                assert figures(prom)["mtls_share"] == 1  # smi up runs strict mTLS: every hop
        edges_path = f"{BASE}/namespaces/{NS}/deployments/caller/edges?window=5m"
        async with session.get(prom_api + edges_path) as response:
            prom_edges = await response.json()
    direct_edges = known.api(edges_path)

    def key(i: dict[str, Any]) -> tuple[str, str, str]:
        return (i["edge"]["direction"], i["edge"]["side"], json.dumps(i["edge"]["resource"], sort_keys=True))

    prom_by = {key(i): i for i in prom_edges["items"]}
    direct_by = {key(i): i for i in direct_edges["items"]}
    assert set(prom_by) == set(direct_by)
    for k, item in direct_by.items():
        assert_same(item, prom_by[k])


def _flagger(query: str) -> str:
    return query.replace("{{ namespace }}", NS).replace("{{ target }}", "server").replace("{{ interval }}", "5m")


def _argo(query: str) -> str:
    args = {"namespace": NS, "workload": "server", "window": "5m"}
    return re.sub(r"\{\{args\.(\w+)\}\}", lambda match: args[match.group(1)], query)


def test_the_shipped_canary_queries_answer_on_prometheus(prometheus: Prometheus) -> None:
    flagger = list(yaml.safe_load_all((REPO / "manifests/metrics/flagger-metric-templates.yaml").read_text()))
    by_name = {t["metadata"]["name"]: t["spec"]["query"] for t in flagger}
    success = prometheus.query(_flagger(by_name["smi-request-success-rate"]))
    assert abs(float(success[0]["value"][1]) - 75.0) < 0.01
    p99 = float(prometheus.query(_flagger(by_name["smi-request-duration-p99"]))[0]["value"][1])
    assert 100 < p99 <= 500, p99

    argo = yaml.safe_load((REPO / "manifests/metrics/argo-analysis-template.yaml").read_text())
    metrics = {x["name"]: x["provider"]["prometheus"]["query"] for x in argo["spec"]["metrics"]}
    rate = float(prometheus.query(_argo(metrics["success-rate"]))[0]["value"][1])
    assert abs(rate - 0.75) < 0.0001
    seconds = float(prometheus.query(_argo(metrics["latency-p99"]))[0]["value"][1])
    assert 0.1 < seconds <= 0.5, seconds
