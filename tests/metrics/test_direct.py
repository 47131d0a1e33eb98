"""The direct source scrapes real HTTP endpoints; a dead or garbled sidecar is counted, logged, and harmless."""

from __future__ import annotations

import logging
import socket

import pytest
from aiohttp import web

from proxy.exposition import render
from proxy.metrics import Metrics, MetricsCollector
from traffic_metrics.direct import DirectSource
from traffic_metrics.samples import RESPONSES
from traffic_metrics.topology import PodInfo

EDGE = ("inbound", "shop", "", "spiffe://cluster.local/ns/shop/sa/buyer", "shop", "", "web", "", "", "", "true")


async def test_bad_sidecars_are_counted_and_the_good_ones_still_answer(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    metrics.edge(EDGE).response(200, 0.01)

    async def good(_: web.Request) -> web.Response:
        return web.Response(body=render(MetricsCollector(metrics).families()))

    async def garbled(_: web.Request) -> web.Response:
        return web.Response(text="<html>not metrics</html>")

    app = web.Application()
    app.router.add_get("/good", good)
    app.router.add_get("/garbled", garbled)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    pods = [
        PodInfo("shop", "web-1", metrics_url=f"http://127.0.0.1:{port}/good"),
        PodInfo("shop", "web-2", metrics_url=f"http://127.0.0.1:{port}/garbled"),
        PodInfo("shop", "web-3", metrics_url=f"http://127.0.0.1:{dead}/metrics"),
        PodInfo("shop", "web-4", metrics_url=f"http://127.0.0.1:{port}/missing"),
    ]
    source = DirectSource(targets=lambda: pods, timeout=2)
    try:
        with caplog.at_level(logging.WARNING, logger="traffic_metrics.direct"):
            await source.scrape_once()
            await source.scrape_once()
        metrics.edge(EDGE).response(500, 0.01)
        await source.scrape_once()
    finally:
        await runner.cleanup()
    assert source.failures == {"malformed": 3, "unreachable": 3, "http_404": 3}
    assert sum("web-2" in r.getMessage() for r in caplog.records) == 1  # logged once per change, not per round
    data = await source.window(30)
    assert list(data.rows) == [("shop", "web-1")]
    assert data.rows[("shop", "web-1")][EDGE][RESPONSES] == 2
