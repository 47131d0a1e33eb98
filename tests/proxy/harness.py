"""Harness for the sidecar proxy tests: loopback backends, configs, in-process proxies.

Addresses: the client pod is 127.0.0.11, the server pod 127.0.0.12, extra backends
127.0.0.21+ (all loopback).  Every server binds port 0.  Tests run on uvloop, the loop the
proxy runs on in production.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import uvloop
from aiohttp import web

from proxy.running import Proxy
from proxy.settings import ProxySettings
from smi.proxyconfig import (
    AllowRule,
    Cluster,
    Endpoint,
    HttpMatch,
    InboundConfig,
    InboundPort,
    OutboundConfig,
    OutboundPort,
    OutboundService,
    ProxyConfig,
    ProxyNode,
    SplitRoute,
    WeightedCluster,
)
from tests.waiting import wait_until as wait_until  # the one bounded wait (tests.waiting)

CLIENT_IP = "127.0.0.11"
SERVER_IP = "127.0.0.12"
CLIENT_ID = "spiffe://cluster.local/ns/default/sa/client"
SERVER_ID = "spiffe://cluster.local/ns/default/sa/server"
OTHER_ID = "spiffe://cluster.local/ns/default/sa/intruder"


@pytest.fixture(scope="session")
def event_loop_policy() -> uvloop.EventLoopPolicy:
    return uvloop.EventLoopPolicy()


@dataclass
class Backend:
    """An aiohttp app server on loopback that records what it receives."""

    name: str
    host: str
    port: int = 0
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    runner: web.AppRunner | None = None
    release: asyncio.Event = field(default_factory=asyncio.Event)
    connections: int = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs, dict(request.headers)))
        if request.path == "/echo":
            response = web.StreamResponse()
            response.enable_chunked_encoding()
            await response.prepare(request)
            async for chunk in request.content.iter_chunked(65536):
                await response.write(chunk)
            await response.write_eof()
            return response
        if request.path == "/big":
            size = int(request.query["n"])
            response = web.StreamResponse(headers={"content-length": str(size)})
            await response.prepare(request)
            block = b"x" * 65536
            sent = 0
            while sent < size:
                part = block[: min(len(block), size - sent)]
                await response.write(part)
                sent += len(part)
            await response.write_eof()
            return response
        if request.path == "/count":
            n = 0
            async for chunk in request.content.iter_chunked(65536):
                n += len(chunk)
            return web.Response(text=str(n))
        if request.path == "/hold":
            await self.release.wait()
        if request.path == "/ws":
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    await ws.send_str(f"{self.name}:{msg.data}")
            return ws
        body = await request.read()
        return web.Response(text=f"{self.name} {request.method} {request.path_qs} {len(body)}")

    async def start(self) -> Backend:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, self.port)
        await site.start()
        server: Any = site._server
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self.release.set()
        if self.runner is not None:
            await self.runner.cleanup()

    def count(self) -> int:
        return len(self.requests)


@pytest.fixture
async def backends() -> AsyncIterator[Callable[..., Awaitable[Backend]]]:
    started: list[Backend] = []

    async def make(name: str, host: str = "127.0.0.21", port: int = 0) -> Backend:
        backend = await Backend(name, host, port).start()
        started.append(backend)
        return backend

    yield make
    for b in started:
        await b.stop()


def cluster(name: str, *endpoints: Endpoint, protocol: str = "http", lb: str = "round_robin", **kw: Any) -> Cluster:
    ns, _, rest = name.partition("/")
    service, _, port = rest.partition(":")
    return Cluster(name, ns, service, int(port), protocol, endpoints, lb, **kw)


def ep(backend: Backend, *, proxy_port: int = 0, identity: str = "", workload: str = "") -> Endpoint:
    return Endpoint(
        backend.host,
        backend.port,
        pod=f"{backend.name}-pod",
        namespace="default",
        identity=identity,
        proxy_port=proxy_port,
        workload=workload or backend.name,
    )


def client_config(
    services: tuple[OutboundService, ...], clusters: tuple[Cluster, ...], *, inbound: InboundConfig | None = None
) -> ProxyConfig:
    return ProxyConfig(
        node=ProxyNode("default", "client-pod", "client", CLIENT_ID, address=CLIENT_IP, workload="client"),
        outbound=OutboundConfig(services, clusters),
        inbound=inbound or InboundConfig(),
    )


def service(
    name: str, port: int, cluster_name: str, *, protocol: str = "http", splits: tuple[SplitRoute, ...] = ()
) -> OutboundService:
    return OutboundService(
        "default",
        name,
        (name, f"{name}.default", f"{name}.default.svc.cluster.local"),
        (OutboundPort(port, protocol, cluster_name, splits),),
    )


def server_config(
    *, app_port: int, protocol: str = "http", rules: tuple[AllowRule, ...] = (), permissive: bool = False,
    peers: tuple[tuple[str, str], ...] = ((CLIENT_IP, CLIENT_ID),), more_ports: tuple[InboundPort, ...] = (),
) -> ProxyConfig:  # fmt: skip
    return ProxyConfig(
        node=ProxyNode("default", "server-pod", "server", SERVER_ID, address=SERVER_IP, workload="server"),
        inbound=InboundConfig(
            ports=(InboundPort(app_port, protocol, "app"), *more_ports),
            app_address=SERVER_IP,
            permissive=permissive,
            rules=rules,
            peers=peers,
        ),
    )


@asynccontextmanager
async def running_proxy(config: ProxyConfig | None = None, **settings: Any) -> AsyncIterator[Proxy]:
    base: dict[str, Any] = {"outbound": ("127.0.0.1", 0), "inbound": ("127.0.0.1", 0), "admin": ("127.0.0.1", 0)}
    base.update(settings)
    proxy = Proxy(ProxySettings(**base))
    if config is not None:
        proxy.holder.swap(config, version=1)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()


def proxy_url(proxy: Proxy, listener: str = "outbound") -> str:
    host, port = proxy.addresses[listener]
    return f"http://{host}:{port}"


__all__ = [
    "CLIENT_ID",
    "CLIENT_IP",
    "OTHER_ID",
    "SERVER_ID",
    "SERVER_IP",
    "Backend",
    "HttpMatch",
    "SplitRoute",
    "WeightedCluster",
    "client_config",
    "cluster",
    "ep",
    "proxy_url",
    "running_proxy",
    "server_config",
    "service",
    "wait_until",
]
