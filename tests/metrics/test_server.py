"""The API server over HTTP: discovery from memory while the source is down, Tables, Status errors."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from traffic_metrics.promsource import PrometheusSource
from traffic_metrics.query import Query, WindowData
from traffic_metrics.server import MetricsApi, make_app
from traffic_metrics.sources import SourceUnavailable

BASE = "/apis/metrics.smi-spec.io/v1alpha1"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


class FixedSource:
    name = "fixed"

    def __init__(self, data: WindowData | None) -> None:
        self.data = data
        self.asked: list[float] = []

    async def window(self, seconds: float) -> WindowData:
        self.asked.append(seconds)
        if self.data is None:
            raise SourceUnavailable("the sidecars have not been scraped yet")
        return WindowData(self.data.when, seconds, self.data.rows)


async def serve(api: MetricsApi) -> tuple[str, web.AppRunner]:
    runner = web.AppRunner(make_app(api))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return f"http://127.0.0.1:{port}", runner


@pytest.fixture
async def api(query: Query) -> AsyncIterator[tuple[str, FixedSource]]:
    source = FixedSource(query.data)
    url, runner = await serve(MetricsApi(topology=lambda: query.topo, source=source))
    yield url, source
    await runner.cleanup()


async def get(url: str, *, accept: str = "application/json") -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.get(url, headers={"Accept": accept}) as r:
        return r.status, await r.json()


async def test_discovery_names_every_kind_and_the_edges_subresources(api: tuple[str, FixedSource]) -> None:
    url, _ = api
    status, groups = await get(url + "/apis")
    assert status == 200 and groups["groups"][0]["name"] == "metrics.smi-spec.io"
    _, resources = await get(url + BASE)
    names = {r["name"] for r in resources["resources"]}
    assert {"namespaces", "pods", "deployments", "daemonsets", "statefulsets", "jobs", "services", "trafficsplits",
            "deployments/edges", "pods/edges", "trafficmetrics"} <= names  # fmt: skip
    # kubectl keeps one plural per kind: each top-level resource needs a kind of its own
    top = [r for r in resources["resources"] if "/" not in r["name"]]
    assert len({r["kind"] for r in top}) == len(top)
    assert all(r["kind"].endswith("TrafficMetrics") for r in resources["resources"])
    for path in ("/healthz", "/livez", "/readyz"):
        async with aiohttp.ClientSession() as s, s.get(url + path) as r:
            assert r.status == 200
    assert (await get(url + "/version"))[0] == 200
    assert (await get(url + "/openapi/v2"))[1]["swagger"] == "2.0"


async def test_a_table_for_kubectl(api: tuple[str, FixedSource]) -> None:
    url, _ = api
    _, table = await get(url + f"{BASE}/namespaces/shop/deployments", accept=TABLE)
    assert table["kind"] == "Table"
    columns = [c["name"] for c in table["columnDefinitions"]]
    assert columns == ["NAME", "SUCCESS", "RPS", "LATENCY_P50", "LATENCY_P90", "LATENCY_P99", "WINDOW"]
    web_v1 = next(r["cells"] for r in table["rows"] if r["cells"][0] == "web-v1")
    assert web_v1[1] == "93.33%" and web_v1[2] == "2.5"
    _, edges = await get(url + f"{BASE}/namespaces/shop/deployments/web-v1/edges", accept=TABLE)
    assert [c["name"] for c in edges["columnDefinitions"]][:4] == ["NAME", "SRC", "DST", "SIDE"]


async def test_errors_are_status_objects(api: tuple[str, FixedSource]) -> None:
    url, source = api
    status, body = await get(url + f"{BASE}/namespaces/shop/deployments/nope")
    assert (status, body["kind"], body["reason"], body["code"]) == (404, "Status", "NotFound", 404)
    status, body = await get(url + f"{BASE}/widgets")
    assert (status, body["reason"]) == (404, "NotFound")
    status, body = await get(url + f"{BASE}/deployments?window=2h")
    assert (status, body["reason"]) == (400, "BadRequest") and "from 10s to 1h" in body["message"]
    status, body = await get(url + f"{BASE}/deployments?labelSelector=%3Dx")
    assert (status, body["reason"]) == (400, "BadRequest")
    _, ok = await get(url + f"{BASE}/deployments?window=1m")
    assert ok["items"][0]["window"] == "1m0s" and source.asked[-1] == 60


async def test_source_down_gives_503_while_discovery_answers() -> None:
    from traffic_metrics.topology import Topology

    url, runner = await serve(MetricsApi(topology=Topology, source=FixedSource(None)))
    try:
        status, body = await get(url + f"{BASE}/namespaces/shop/deployments")
        assert (status, body["reason"]) == (503, "ServiceUnavailable")
        assert "not been scraped" in body["message"]
        assert (await get(url + BASE))[0] == 200
    finally:
        await runner.cleanup()


async def test_prometheus_unreachable_gives_503_naming_it() -> None:
    from traffic_metrics.topology import Topology

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    source = PrometheusSource(f"http://127.0.0.1:{port}", timeout=2)
    url, runner = await serve(MetricsApi(topology=Topology, source=source))
    try:
        status, body = await get(url + f"{BASE}/pods")
        assert status == 503 and f"127.0.0.1:{port} is unreachable" in body["message"]
        assert (await get(url + "/apis"))[0] == 200
    finally:
        await runner.cleanup()
