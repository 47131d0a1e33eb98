"""A real sidecar switching monitoring levels live: its ``/metrics`` and its tap follow each swap.

``routes`` exports one series per edge and route and taps; ``golden`` sums the routes of an
edge into one series (the counts go on: nothing seen before is lost from the sums) and ends
every tap stream with a line that says tap is off; ``off`` exports no request series, only
the proxy's own health and error series.  Requests flowing during the swaps all succeed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import aiohttp

from proxy.exposition import render
from proxy.running import Proxy
from smi.proxyconfig import ProxyConfig, SplitRoute, WeightedCluster
from tests.proxy.harness import backends, client_config, cluster, ep, proxy_url, running_proxy, service
from tests.tap.test_tap_sidecar import Tap
from tests.waiting import wait_until

__all__ = ["backends"]  # the fixture, used by name

ROUTE = "default/web-split"


def config(web: Any, level: str) -> ProxyConfig:
    split = SplitRoute(ROUTE, (WeightedCluster("default/web:80", 1, "web"),))
    base = client_config(
        (service("web", 80, "default/web:80", splits=(split,)),), (cluster("default/web:80", ep(web)),)
    )
    return dataclasses.replace(base, monitoring=level)


def request_series(proxy: Proxy) -> dict[tuple[str, str], float]:
    """smi_requests_total by (route, backend) as ``/metrics`` shows it."""
    found: dict[tuple[str, str], float] = {}
    for family in proxy.registry.collect():
        for sample in family.samples:
            if sample.name == "smi_requests_total":
                found[(sample.labels["route"], sample.labels["backend"])] = sample.value
    return found


def exposition(proxy: Proxy) -> str:
    return render(proxy.registry.collect()).decode()


async def send(proxy: Proxy, n: int) -> list[int]:
    async with aiohttp.ClientSession() as s:
        statuses = []
        for _ in range(n):
            async with s.get("http://web/books", proxy=proxy_url(proxy)) as r:
                await r.read()
                statuses.append(r.status)
        return statuses


async def test_levels_switch_live_series_and_tap_follow(backends) -> None:
    web = await backends("web")
    async with running_proxy(config(web, "routes"), inbound=None) as proxy:
        status, tap = await Tap.open(proxy, "")
        assert status == 200
        await wait_until(lambda: proxy.metrics.tap.listening, what="the tap subscription")
        assert await send(proxy, 3) == [200] * 3
        assert (await tap.event())["path"] == "/books"
        assert request_series(proxy) == {(ROUTE, "web"): 3.0}

        proxy.holder.swap(config(web, "golden"), version=2)
        rest = [json.loads(x) for x in (await tap.body()).splitlines()]  # ends when the sidecar closes it
        assert [e["path"] for e in rest[:-1]] == ["/books"] * 2  # the events still queued, then the end line
        assert rest[-1]["monitoring"] == "golden" and "tap is off" in rest[-1]["end"]
        tap.close()
        assert await send(proxy, 2) == [200] * 2
        assert request_series(proxy) == {("", "web"): 5.0}  # the route's 3 summed in, then 2 more
        text = exposition(proxy)
        assert "smi_request_duration_seconds_count{" in text and f'route="{ROUTE}"' not in text

        status, late = await Tap.open(proxy, "path_prefix=/books")
        assert status == 200
        lines = (await late.body()).splitlines()
        assert [json.loads(x)["monitoring"] for x in lines] == ["golden"], lines
        assert not proxy.metrics.tap.listening

        proxy.holder.swap(config(web, "off"), version=3)
        assert await send(proxy, 2) == [200] * 2
        text = exposition(proxy)
        assert request_series(proxy) == {}
        assert "smi_responses_total{" not in text and "smi_request_duration_seconds_bucket{" not in text
        assert "smi_config_version 3.0" in text  # the proxy's own health is still there

        proxy.holder.swap(config(web, "routes"), version=4)
        status, again = await Tap.open(proxy, "")
        await wait_until(lambda: proxy.metrics.tap.listening, what="tap back on at routes")
        assert await send(proxy, 1) == [200]
        assert (await again.event())["path"] == "/books"
        again.close()
        series = request_series(proxy)
        assert series[(ROUTE, "web")] == 4.0  # the per-route series is back and counts on


async def test_off_still_exports_errors_summed_per_direction(backends) -> None:
    web = await backends("web")
    base = config(web, "off")
    broken = dataclasses.replace(base, outbound=dataclasses.replace(base.outbound, clusters=()))
    async with running_proxy(broken, inbound=None) as proxy:
        assert await send(proxy, 2) == [503, 503]
        errors = [
            s for f in proxy.registry.collect() for s in f.samples if s.name == "smi_proxy_errors_total" and s.value > 0
        ]
        assert [(s.labels["direction"], s.labels["destination_service"], s.value) for s in errors] == [
            ("outbound", "", 2.0)
        ]
        assert request_series(proxy) == {}


async def test_requests_in_flight_across_swaps_all_succeed(backends) -> None:
    web = await backends("web")
    async with running_proxy(config(web, "routes"), inbound=None) as proxy:

        async def swaps() -> None:
            for version, level in enumerate(["golden", "off", "routes", "off", "golden", "routes"] * 3, start=2):
                proxy.holder.swap(config(web, level), version=version)
                await asyncio.sleep(0)  # let requests interleave with each swap

        results = await asyncio.gather(*(send(proxy, 10) for _ in range(4)), swaps())
        statuses = [s for r in results[:4] for s in r]
        assert statuses == [200] * 40
        assert sum(request_series(proxy).values()) <= 40


async def test_a_config_with_an_unknown_level_gets_the_default_and_a_warning(backends, caplog: Any) -> None:
    web = await backends("web")
    async with running_proxy(config(web, "verbose"), inbound=None) as proxy:
        assert proxy.holder.current is not None and proxy.holder.current.monitoring == "routes"
        assert any("monitoring: must be one of off, golden, routes, got 'verbose'" in r.message for r in caplog.records)
        assert await send(proxy, 1) == [200]
        assert request_series(proxy) == {(ROUTE, "web"): 1.0}
