"""The config stream: readiness, atomic swap under load, control plane down and back."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from aiohttp import web

from smi.proxyconfig import ProxyConfig, encode
from tests.proxy.harness import client_config, cluster, ep, proxy_url, running_proxy, service, wait_until


class ConfigServer:
    """A tiny ndjson config stream server on loopback (the real one is smi.distribution)."""

    def __init__(self) -> None:
        self.configs: list[tuple[int, ProxyConfig]] = []
        self.new = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.streams = 0
        self.queries: list[dict[str, str]] = []
        self.extra_lines: list[bytes] = []

    def publish(self, version: int, config: ProxyConfig) -> None:
        self.configs.append((version, config))
        self.new.set()

    async def stream(self, request: web.Request) -> web.StreamResponse:
        self.streams += 1
        self.queries.append(dict(request.query))
        response = web.StreamResponse(headers={"content-type": "application/x-ndjson"})
        await response.prepare(request)
        for line in self.extra_lines:
            await response.write(line + b"\n")
        sent = 0
        while True:
            while sent < len(self.configs):
                version, config = self.configs[sent]
                message: dict[str, Any] = {"type": "config", "version": version, "config": encode(config)}
                await response.write(json.dumps(message).encode() + b"\n")
                sent += 1
            self.new.clear()
            try:
                await asyncio.wait_for(self.new.wait(), 1.0)
            except TimeoutError:
                await response.write(b'{"type": "heartbeat"}\n')

    async def start(self) -> ConfigServer:
        app = web.Application()
        app.router.add_get("/v1/config/stream", self.stream)
        self.runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


async def _status(session, url):
    async with session.get(url) as r:
        return r.status


async def test_ready_only_after_first_config_and_config_dump(backends):
    web_backend = await backends("web")
    cp = await ConfigServer().start()
    cp.extra_lines = [b"not json", b'{"type": "config", "version": "x", "config": {}}']
    try:
        async with running_proxy(
            control_plane=f"http://127.0.0.1:{cp.port}", namespace="default", pod="client-pod"
        ) as proxy:
            admin = proxy_url(proxy, "admin")
            async with aiohttp.ClientSession() as s:
                assert await _status(s, admin + "/live") == 200
                await wait_until(lambda: cp.streams >= 1)
                assert await _status(s, admin + "/ready") == 503
                async with s.get("http://web/", proxy=proxy_url(proxy)) as r:
                    assert r.status == 503
                cfg = client_config(
                    (service("web", 80, "default/web:80"),), (cluster("default/web:80", ep(web_backend)),)
                )
                cp.publish(7, cfg)
                await wait_until(lambda: proxy.holder.current is not None)
                assert await _status(s, admin + "/ready") == 200
                async with s.get(admin + "/config") as r:
                    dump = await r.json()
                assert dump["version"] == 7 and dump["config"]["node"]["pod"] == "client-pod"
                assert proxy.metrics.config_rejected == 2
                async with s.get(admin + "/metrics") as r:
                    text = await r.text()
                assert "smi_config_version 7.0" in text
        assert cp.queries[0] == {"namespace": "default", "pod": "client-pod"}
    finally:
        await cp.stop()


async def test_swap_under_load_loses_no_request(backends):
    a = await backends("a", "127.0.0.21")
    b = await backends("b", "127.0.0.22")
    cfg_a = client_config((service("web", 80, "default/web:80"),), (cluster("default/web:80", ep(a)),))
    cfg_b = client_config((service("web", 80, "default/web:80"),), (cluster("default/web:80", ep(b)),))
    async with running_proxy(cfg_a) as proxy:
        statuses: list[int] = []
        started = 0
        swaps = 0
        paced = asyncio.Condition()

        def may_start() -> bool:
            return swaps >= 10 or started < (swaps + 1) * 20 + 4

        async def worker():
            nonlocal started
            async with aiohttp.ClientSession() as s:
                for _ in range(60):
                    # Pace the load against the swaps: at most 20 requests (+4 that may still be in
                    # flight while a swap happens) per config version, so every version carries traffic.
                    async with paced:
                        await paced.wait_for(may_start)
                        started += 1
                    async with s.post("http://web/count", data=b"x" * 1000, proxy=proxy_url(proxy)) as r:
                        statuses.append(r.status)
                        assert await r.text() == "1000"

        tasks = [asyncio.create_task(worker()) for _ in range(4)]
        for version in range(2, 12):
            await wait_until(lambda v=version: len(statuses) >= (v - 1) * 20)
            proxy.holder.swap(cfg_b if version % 2 else cfg_a, version=version)
            async with paced:
                swaps += 1
                paced.notify_all()
        await asyncio.gather(*tasks)
    assert statuses == [200] * 240
    assert a.count() > 0 and b.count() > 0 and a.count() + b.count() == 240


async def test_control_plane_down_keeps_last_config_and_reconnects(backends):
    a = await backends("a", "127.0.0.21")
    b = await backends("b", "127.0.0.22")
    cp = await ConfigServer().start()
    cp.publish(1, client_config((service("web", 80, "default/web:80"),), (cluster("default/web:80", ep(a)),)))
    url = f"http://127.0.0.1:{cp.port}"
    try:
        async with running_proxy(control_plane=url, namespace="default", pod="client-pod", backoff_max=0.5) as proxy:
            await wait_until(lambda: proxy.holder.current is not None)
            await cp.stop()
            await wait_until(lambda: proxy.metrics.config_stream_up == 0)
            attempts = proxy.stream.attempts
            await wait_until(lambda: proxy.stream.attempts >= attempts + 2, what="reconnect attempts")
            async with aiohttp.ClientSession() as s, s.get("http://web/still", proxy=proxy_url(proxy)) as r:
                assert r.status == 200 and (await r.text()).startswith("a ")
            cp.configs = []
            cp.publish(2, client_config((service("web", 80, "default/web:80"),), (cluster("default/web:80", ep(b)),)))
            await cp.start()
            await wait_until(lambda: proxy.holder.current is not None and proxy.holder.current.version == 2)
            async with aiohttp.ClientSession() as s, s.get("http://web/back", proxy=proxy_url(proxy)) as r:
                assert (await r.text()).startswith("b ")
    finally:
        await cp.stop()
