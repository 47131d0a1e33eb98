"""Tap through a real sidecar: ``GET /tap`` on its admin listener streams what it relays.

A request that passes the filter arrives as one ndjson line naming both ends, the method,
path, status, latency and bytes; filtered-out requests never appear; the per-second cap
holds; closing the stream unsubscribes (the hot path is back to one attribute read); and a
bad filter gets 400 naming the parameter.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from proxy.running import Proxy
from tests.proxy.harness import backends, client_config, cluster, ep, proxy_url, running_proxy, service
from tests.waiting import wait_for_value, wait_until

__all__ = ["backends"]  # the fixture, used by name


class Tap:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, proxy: Proxy, query: str) -> tuple[int, Tap]:
        host, port = proxy.addresses["admin"]
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"GET /tap?{query} HTTP/1.1\r\nHost: admin\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        return int(head.split(b" ", 2)[1]), cls(reader, writer)

    async def event(self, within: float = 5.0) -> dict[str, Any]:
        line = await asyncio.wait_for(self.reader.readline(), within)
        assert line, "the tap stream ended"
        event: dict[str, Any] = json.loads(line)
        return event

    async def body(self) -> str:
        return (await asyncio.wait_for(self.reader.read(), 5)).decode()

    def close(self) -> None:
        self.writer.close()


async def send(proxy: Proxy, path: str, n: int = 1, method: str = "GET") -> list[int]:
    async with aiohttp.ClientSession() as s:
        statuses = []
        for _ in range(n):
            async with s.request(method, f"http://web{path}", proxy=proxy_url(proxy)) as r:
                await r.read()
                statuses.append(r.status)
        return statuses


def web_config(web: Any) -> Any:
    return client_config((service("web", 80, "default/web:80"),), (cluster("default/web:80", ep(web)),))


async def test_a_tapped_request_arrives_with_its_facts_and_filters_hold(backends) -> None:
    web = await backends("web")
    async with running_proxy(web_config(web), inbound=None) as proxy:
        assert not proxy.metrics.tap.listening
        status, tap = await Tap.open(proxy, "path_prefix=/books&method=POST")
        assert status == 200
        try:
            await wait_until(lambda: proxy.metrics.tap.listening, what="the subscription")
            assert await send(proxy, "/other", 3, "POST") == [200] * 3  # wrong path: not shown
            assert await send(proxy, "/books/1", 2, "GET") == [200] * 2  # wrong method: not shown
            assert await send(proxy, "/books/7?x=1", 1, "POST") == [200]
            event = await tap.event()
            assert (event["method"], event["path"], event["status"], event["status_class"]) == (
                "POST",
                "/books/7",
                200,
                "2xx",
            )
            assert (event["direction"], event["source_workload"], event["destination_service"]) == (
                "outbound",
                "client",
                "web",
            )
            assert event["destination_workload"] == "web" and event["authority"] == "web"
            assert event["latency_ms"] > 0 and event["response_bytes"] > 0
        finally:
            tap.close()
        await wait_until(lambda: not proxy.metrics.tap.listening, what="the tap to unsubscribe on close")


async def test_the_cap_limits_events_per_second(backends) -> None:
    web = await backends("web")
    async with running_proxy(web_config(web), inbound=None) as proxy:
        _, tap = await Tap.open(proxy, "rate=2")
        try:
            await wait_until(lambda: proxy.metrics.tap.listening, what="the subscription")
            subscription = proxy.metrics.tap.subscriptions[0]
            started = asyncio.get_running_loop().time()
            assert await send(proxy, "/a", 20) == [200] * 20
            elapsed = asyncio.get_running_loop().time() - started
            await wait_for_value(
                lambda: asyncio.sleep(0, subscription.limited), lambda n: n > 0, what="requests over the cap"
            )
            passed = 20 - subscription.limited
            # a full bucket of 2, refilled at 2 per second while the requests ran
            assert 2 <= passed <= 2 + 2 * elapsed + 1e-6, (passed, elapsed)
            got = [await tap.event() for _ in range(passed)]
            assert {e["path"] for e in got} == {"/a"}
        finally:
            tap.close()


async def test_a_bad_filter_is_refused_naming_it(backends) -> None:
    web = await backends("web")
    async with running_proxy(web_config(web), inbound=None) as proxy:
        status, tap = await Tap.open(proxy, "status_class=6xx")
        body = await tap.body()
        tap.close()
        assert status == 400 and "status_class" in body
        status, tap = await Tap.open(proxy, "rate=0")
        body = await tap.body()
        tap.close()
        assert status == 400 and "rate" in body
        assert not proxy.metrics.tap.listening
