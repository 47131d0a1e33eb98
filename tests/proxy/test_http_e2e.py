"""HTTP/1.1 behaviour through the outbound listener: bodies, keep-alive, pipelining,
100-continue, WebSocket upgrade, and the failure codes (400/404/503/504), each counted."""

from __future__ import annotations

import asyncio
import re

import aiohttp

from tests.proxy.harness import client_config, cluster, ep, proxy_url, running_proxy, service


def _cfg(backend, **kw):
    return client_config((service("web", 80, "default/web:80"),), (cluster("default/web:80", ep(backend), **kw),))


async def _raw(proxy, data: bytes, *, until: bytes = b"", count: int = 0) -> bytes:
    host, port = proxy.addresses["outbound"]
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(data)
    out = b""
    while (until and out.count(until) < count) or not until:
        chunk = await asyncio.wait_for(reader.read(65536), 10)
        if not chunk:
            break
        out += chunk
    writer.close()
    return out


async def test_chunked_upload_is_streamed_and_echoed(backends):
    web = await backends("web")

    async def body():
        for i in range(50):
            yield b"%04d" % i * 1000

    async with (
        running_proxy(_cfg(web)) as proxy,
        aiohttp.ClientSession() as s,
        s.post("http://web/echo", data=body(), proxy=proxy_url(proxy)) as r,
    ):
        data = await r.read()
        assert r.headers.get("Transfer-Encoding") == "chunked"
    assert data == b"".join(b"%04d" % i * 1000 for i in range(50))


async def test_keep_alive_reuses_one_upstream_connection(backends):
    web = await backends("web")
    async with running_proxy(_cfg(web)) as proxy:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as s:
            for i in range(20):
                async with s.get(f"http://web/{i}", proxy=proxy_url(proxy)) as r:
                    assert r.status == 200
                    await r.read()
        assert proxy.pool.opened == 1
    assert web.count() == 20


async def test_pipelined_requests_get_responses_in_order(backends):
    web = await backends("web")
    async with running_proxy(_cfg(web)) as proxy:
        reqs = b"".join(b"GET /p%d HTTP/1.1\r\nHost: web\r\n\r\n" % i for i in range(5))
        out = await _raw(proxy, reqs, until=b"HTTP/1.1 200", count=5)
    bodies = re.findall(rb"web GET /p\d 0", out)
    assert bodies == [b"web GET /p%d 0" % i for i in range(5)]


async def test_expect_100_continue_does_not_hang(backends):
    web = await backends("web")
    async with running_proxy(_cfg(web)) as proxy:
        host, port = proxy.addresses["outbound"]
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"POST /count HTTP/1.1\r\nHost: web\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        first = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert first.startswith(b"HTTP/1.1 100")
        writer.write(b"hello")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 200")
        assert await asyncio.wait_for(reader.readexactly(1), 10) == b"5"
        writer.close()


async def test_websocket_upgrade_is_spliced(backends):
    web = await backends("web")
    async with running_proxy(_cfg(web)) as proxy, aiohttp.ClientSession() as s:
        host, port = proxy.addresses["outbound"]
        async with s.ws_connect(f"http://{host}:{port}/ws", headers={"Host": "web"}) as ws:
            for i in range(3):
                await ws.send_str(f"m{i}")
                assert await asyncio.wait_for(ws.receive_str(), 10) == f"web:m{i}"


async def test_hop_by_hop_headers_do_not_reach_the_app(backends):
    web = await backends("web")
    async with running_proxy(_cfg(web)) as proxy:
        await _raw(
            proxy,
            b"GET /h HTTP/1.1\r\nHost: web\r\nConnection: close, X-Drop\r\nX-Drop: 1\r\n"
            b"Proxy-Authorization: x\r\nX-Keep: 2\r\n\r\n",
        )
    headers = {k.lower() for k in web.requests[0][2]}
    assert "x-keep" in headers
    assert not headers & {"x-drop", "proxy-authorization"}


async def test_failures_map_to_status_codes_and_are_counted(backends):
    web = await backends("web")
    dead = await backends("dead", "127.0.0.24")
    await dead.stop()  # nothing listens there any more: connection refused
    cfg = client_config(
        (
            service("web", 80, "default/web:80"),
            service("dead", 80, "default/dead:80"),
            service("empty", 80, "default/empty:80"),
        ),
        (
            cluster("default/web:80", ep(web), request_timeout_ms=300),
            cluster("default/dead:80", ep(dead)),
            cluster("default/empty:80"),
        ),
    )
    async with running_proxy(cfg) as proxy, aiohttp.ClientSession() as s:
        url = proxy_url(proxy)
        cases = [("http://dead/", 503), ("http://empty/", 503), ("http://nowhere/", 404), ("http://web/hold", 504)]
        for target, status in cases:
            async with s.get(target, proxy=url) as r:
                assert r.status == status, target
        out = await _raw(proxy, b"GET / HTTP/1.1\r\nHost: web\r\nContent-Length: nope\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 400")
        # the proxy is unaffected: a good request still works
        async with s.get("http://web/ok", proxy=url) as r:
            assert r.status == 200
        m = proxy.metrics
        assert (m.error_total("connect_failed"), m.error_total("no_endpoints"), m.error_total("no_route")) == (1, 1, 1)
        assert (m.error_total("timeout"), m.error_total("bad_request")) == (1, 1)
