"""Real HTTP/2 clients through the sidecars: curl with prior knowledge and with ``Upgrade: h2c``, nghttp.

The app behind the server sidecar speaks HTTP/1.1 (an aiohttp server), so these calls are
also the HTTP/2 client -> HTTP/1.1 server conversion.  A config swap under bounded gRPC
load sends GOAWAY and loses no call.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from proxy.running import Proxy
from smi.proxyconfig import AllowRule
from tests.http2 import grpc_app
from tests.http2.test_grpc_mesh import call, mesh, stub
from tests.proxy.harness import (
    CLIENT_ID,
    SERVER_IP,
    client_config,
    cluster,
    ep,
    running_proxy,
    server_config,
    service,
    wait_until,
)

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed"),
]


@asynccontextmanager
async def h1_mesh(backends: Any) -> AsyncIterator[tuple[Any, Proxy]]:
    app = await backends("app", SERVER_IP)
    allow = AllowRule("default/all/HTTPRouteGroup/all", (CLIENT_ID,), "http", (), None)
    scfg = server_config(app_port=app.port, rules=(allow,))
    async with running_proxy(scfg, inbound=(SERVER_IP, 0), outbound=None) as server:
        endpoint = ep(app, proxy_port=server.addresses["inbound"][1])
        ccfg = client_config((service("app", 80, "default/app:80"),), (cluster("default/app:80", endpoint),))
        async with running_proxy(ccfg, inbound=None) as client:
            yield app, client


async def run(*argv: str, stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), 30)
    return proc.returncode or 0, out, err


def curl(client: Proxy, path: str, *extra: str) -> list[str]:
    host, port = client.addresses["outbound"]
    return ["curl", "-sS", "--max-time", "20", "--connect-to", f"app.default:80:{host}:{port}",
            "-w", "\n%{http_code} %{http_version}", *extra, f"http://app.default{path}"]  # fmt: skip


async def test_curl_with_prior_knowledge_reaches_an_http1_app_through_both_sidecars(backends: Any) -> None:
    async with h1_mesh(backends) as (app, client):
        code, out, err = await run(*curl(client, "/hello?x=1", "--http2-prior-knowledge"))
        assert code == 0, err
        assert out.decode().splitlines() == ["app GET /hello?x=1 0", "200 2"]
        method, path, headers = app.requests[-1]
        assert (method, path, headers["Host"]) == ("GET", "/hello?x=1", "app.default")


async def test_a_large_request_body_streams_through_in_both_protocols(backends: Any) -> None:
    body = bytes(range(256)) * 8192  # 2 MiB, many flow-control windows
    async with h1_mesh(backends) as (_, client):
        code, out, err = await run(*curl(client, "/echo", "--http2-prior-knowledge", "--data-binary", "@-"), stdin=body)
        assert code == 0, err
        assert out == body + b"\n200 2"


async def test_curl_upgrading_to_h2c_is_served_over_http2(backends: Any) -> None:
    async with h1_mesh(backends) as (_, client):
        code, out, err = await run(*curl(client, "/up", "--http2"))
        assert code == 0, err
        assert out.decode().splitlines() == ["app GET /up 0", "200 2"]


async def test_an_unknown_service_gets_404_over_http2(backends: Any) -> None:
    async with h1_mesh(backends) as (_, client):
        host, port = client.addresses["outbound"]
        code, out, err = await run("curl", "-sS", "--http2-prior-knowledge", "-w", "\n%{http_code}",
                                   f"http://{host}:{port}/x", "-H", "host: nowhere.default")  # fmt: skip
        assert code == 0, err
        assert out.decode().splitlines() == ["no route: no mesh service answers to nowhere.default:80", "", "404"]


@pytest.mark.skipif(shutil.which("nghttp") is None, reason="nghttp (Debian nghttp2-client) is not installed")
async def test_nghttp_with_prior_knowledge_through_a_sidecar(backends: Any) -> None:
    async with h1_mesh(backends) as (_, client):
        host, port = client.addresses["outbound"]
        code, out, err = await run("nghttp", "-H", ":authority: app.default", f"http://{host}:{port}/ng")
        assert code == 0, err
        assert out.decode().strip() == "app GET /ng 0"


async def test_a_config_swap_under_grpc_load_sends_goaway_and_loses_no_call() -> None:
    server_app, port = grpc_app.serve(SERVER_IP, 0, "echo")
    try:
        async with mesh(port) as (client, server):
            echo = stub(client)
            config = client.holder.current
            assert config is not None
            swaps = 0

            async def swapper() -> None:
                nonlocal swaps
                for version in range(2, 7):  # bounded: five swaps
                    await asyncio.sleep(0)
                    client.holder.swap(config.config, version=version)
                    server.holder.swap(server.holder.current.config, version=version)  # type: ignore[union-attr]
                    swaps += 1
                    await asyncio.to_thread(echo.unary, b"between", timeout=10)

            calls = [call(echo.unary, b"%d" % i, timeout=10) for i in range(60)]  # bounded load
            results = await asyncio.gather(swapper(), *calls)
            assert swaps == 5
            assert sorted(results[1:]) == sorted(b"echo:%d" % i for i in range(60))
            assert client.http2.upstreams.h2.opened >= 2  # new connections after the GOAWAYs
    finally:
        server_app.stop(0)




async def test_shutdown_sends_goaway_and_the_call_in_flight_still_finishes() -> None:
    server_app, port = grpc_app.serve(SERVER_IP, 0, "echo")
    try:
        async with mesh(port) as (client, _):
            echo = stub(client)
            slow = asyncio.ensure_future(call(echo.unary, b"sleep:0.5", timeout=10))
            await wait_until(lambda: client.http2.calls_in_flight == 1, what="the slow call in flight")
            await client.stop()  # GOAWAY, then waits for the call
            assert await slow == b"echo:sleep:0.5"
            assert client.http2.calls_in_flight == 0
    finally:
        server_app.stop(0)
