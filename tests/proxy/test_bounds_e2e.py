"""Bounds and shutdown over real sockets: the connection cap, draining, connect retries,
upstream connections that outlive the client connections they served, local-only debug views."""

from __future__ import annotations

import asyncio
import logging
import socket

import aiohttp
import pytest

from proxy.admin import AdminEndpoints, _is_loopback
from proxy.exposition import Registry
from proxy.holder import ConfigHolder
from proxy.http.logs import LogLimiter
from proxy.metrics import Metrics
from smi.proxyconfig import Endpoint
from tests.proxy.harness import client_config, cluster, ep, proxy_url, running_proxy, service, wait_until

GET = b"GET /%b HTTP/1.1\r\nHost: web\r\n\r\n"


async def _answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = head.lower().split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length"))
    return head, await asyncio.wait_for(reader.readexactly(length), 10)


def _closed_port(host: str) -> int:
    """A port on ``host`` where nothing listens (bound, then released: connects are refused)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


async def test_connections_over_the_cap_get_503_while_admin_still_answers(backends):
    web = await backends("web")
    cfg = client_config((service("web", 80, "default/web:80"),), (cluster("default/web:80", ep(web)),))
    async with running_proxy(cfg, max_connections=2) as proxy:
        address = proxy.addresses["outbound"]
        held = [await asyncio.open_connection(*address) for _ in range(2)]
        for _, writer in held:
            writer.write(GET % b"held")
        for reader, _ in held:
            head, _ = await _answer(reader)
            assert head.startswith(b"HTTP/1.1 200")
        reader, writer = await asyncio.open_connection(*address)
        refused = await asyncio.wait_for(reader.read(), 10)
        assert refused.startswith(b"HTTP/1.1 503 ") and b"too many connections" in refused
        assert b"connection: close" in refused
        writer.close()
        assert proxy.gates["outbound"].refused == 1
        async with aiohttp.ClientSession() as s, s.get(proxy_url(proxy, "admin") + "/ready") as r:
            assert r.status == 200  # the admin listener has its own room
        held[0][1].close()
        await wait_until(lambda: len(proxy.gates["outbound"].live) == 1, what="a slot freed")
        reader, writer = await asyncio.open_connection(*address)
        writer.write(GET % b"again")
        head, body = await _answer(reader)
        assert head.startswith(b"HTTP/1.1 200") and body == b"web GET /again 0"
        writer.close()
        held[1][1].close()


async def test_drain_finishes_in_flight_closes_idle_and_refuses_new(backends):
    web = await backends("web")
    cfg = client_config((service("web", 80, "default/web:80"),), (cluster("default/web:80", ep(web)),))
    async with running_proxy(cfg) as proxy:
        address = proxy.addresses["outbound"]
        busy_r, busy_w = await asyncio.open_connection(*address)
        idle_r, idle_w = await asyncio.open_connection(*address)
        idle_w.write(GET % b"first")
        await _answer(idle_r)  # now an idle keep-alive
        busy_w.write(GET % b"hold")
        await wait_until(lambda: web.count() == 2, what="the held request at the app")
        draining = asyncio.create_task(proxy.drain(10.0))
        assert await asyncio.wait_for(idle_r.read(), 10) == b""  # the idle keep-alive is closed at once
        async with aiohttp.ClientSession() as s, s.get(proxy_url(proxy, "admin") + "/ready") as r:
            assert r.status == 503 and "draining" in await r.text()
        with pytest.raises(OSError):
            await asyncio.wait_for(asyncio.open_connection(*address), 5)  # no longer accepting
        assert not draining.done()
        web.release.set()
        head, body = await _answer(busy_r)
        assert head.startswith(b"HTTP/1.1 200") and b"connection: close" in head and body == b"web GET /hold 0"
        assert await asyncio.wait_for(busy_r.read(), 10) == b""
        await asyncio.wait_for(draining, 10)  # done as soon as the last connection closed
        busy_w.close()
        idle_w.close()


async def test_a_refused_connect_is_retried_on_the_other_endpoint(backends):
    web = await backends("web")
    dead = Endpoint("127.0.0.22", _closed_port("127.0.0.22"), pod="dead-pod", namespace="default", workload="dead")
    cfg = client_config((service("web", 80, "default/web:80"),), (cluster("default/web:80", dead, ep(web)),))
    async with running_proxy(cfg) as proxy, aiohttp.ClientSession() as s:
        for i in range(10):
            async with s.get(f"http://web/{i}", proxy=proxy_url(proxy)) as r:
                assert r.status == 200, await r.text()
        assert web.count() == 10
        assert proxy.metrics.error_total("connect_failed") == 0  # every failed connect was recovered


async def test_client_connection_close_does_not_cost_an_upstream_connection(backends):
    web = await backends("web")
    cfg = client_config((service("web", 80, "default/web:80"),), (cluster("default/web:80", ep(web)),))
    async with running_proxy(cfg) as proxy:
        for i in range(20):
            reader, writer = await asyncio.open_connection(*proxy.addresses["outbound"])
            writer.write(b"GET /%d HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n" % i)
            answer = await asyncio.wait_for(reader.read(), 10)  # read to the close
            assert answer.startswith(b"HTTP/1.1 200") and b"connection: close" in answer.lower()
            writer.close()
        assert web.count() == 20
        assert proxy.pool.opened == 1  # one upstream connection served the 20 client connections


def test_config_answers_only_on_localhost_and_metrics_everywhere():
    endpoints = AdminEndpoints(holder=ConfigHolder(Metrics()), registry=Registry())
    assert endpoints.answer("GET", "/config", local=False)[0].status == 403
    assert endpoints.answer("GET", "/config", local=True)[0].status == 503  # no config yet, but answered
    assert endpoints.answer("GET", "/metrics", local=False)[0].status == 200
    assert [_is_loopback((a, 1)) for a in ("127.0.0.5", "::1", "::ffff:127.0.0.1", "10.0.0.7", "fd00::1")] == [
        True, True, True, False, False,
    ]  # fmt: skip


def test_sidecar_made_errors_are_logged_at_a_bounded_rate(caplog):
    now = [0.0]
    limiter = LogLimiter(burst=2, period=10.0, clock=lambda: now[0])
    log = logging.getLogger("proxy.http")
    with caplog.at_level(logging.WARNING, logger="proxy.http"):
        logged = [limiter.log(log, logging.WARNING, f"504 number {i}", "504") for i in range(5)]
        assert logged == [True, True, False, False, False]
        assert limiter.log(log, logging.WARNING, "503 other kind", "503")
        now[0] = 11.0
        assert limiter.log(log, logging.WARNING, "504 number 5", "504")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["504 number 0", "504 number 1", "503 other kind",
                        "504 number 5 (3 more like this suppressed)"]  # fmt: skip
