"""Real gRPC (grpcio client and server) through two in-process sidecars: client sidecar -> server sidecar -> app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest

from proxy.running import Proxy
from smi.proxyconfig import AllowRule, Cluster, Endpoint, HttpMatch
from tests.http2 import grpc_app
from tests.proxy.harness import (
    CLIENT_ID,
    SERVER_IP,
    client_config,
    running_proxy,
    server_config,
    service,
)

pytestmark = pytest.mark.timeout(60)

AUTHORITY = "echo.default:50051"
ALLOW_ECHO = AllowRule("default/echo/HTTPRouteGroup/all", (CLIENT_ID,), "http", (), None)


@pytest.fixture
def app() -> Iterator[int]:
    server, port = grpc_app.serve(SERVER_IP, 0, "echo")
    yield port
    server.stop(0)


@asynccontextmanager
async def mesh(app_port: int, *, rules: tuple[AllowRule, ...] = (ALLOW_ECHO,), app_protocol: str = "http2",
               **client_settings: Any) -> AsyncIterator[tuple[Proxy, Proxy]]:  # fmt: skip
    scfg = server_config(app_port=app_port, protocol=app_protocol, rules=rules)
    async with running_proxy(scfg, inbound=(SERVER_IP, 0), outbound=None) as server:
        endpoint = Endpoint(SERVER_IP, app_port, pod="echo-pod", namespace="default", identity="",
                            proxy_port=server.addresses["inbound"][1], workload="echo")  # fmt: skip
        cluster = Cluster("default/echo:50051", "default", "echo", 50051, "http2", (endpoint,))
        ccfg = client_config((service("echo", 50051, "default/echo:50051", protocol="http2"),), (cluster,))
        async with running_proxy(ccfg, inbound=None, **client_settings) as client:
            yield client, server


def stub(client: Proxy) -> grpc_app.Echo:
    host, port = client.addresses["outbound"]
    return grpc_app.Echo(grpc_app.channel(f"{host}:{port}", AUTHORITY))


async def call(fn: Any, *args: Any, **kw: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kw)


def responses_of(proxy: Proxy, direction: str) -> dict[int, int]:
    out: dict[int, int] = {}
    for labels, stats in proxy.metrics.edges.items():
        if labels[0] == direction:
            for code, n in stats.responses.items():
                out[code] = out.get(code, 0) + n
    return out


def grpc_of(proxy: Proxy, direction: str) -> dict[int, int]:
    out: dict[int, int] = {}
    for labels, stats in proxy.metrics.edges.items():
        if labels[0] == direction:
            for code, n in stats.grpc.items():
                out[code] = out.get(code, 0) + n
    return out


async def test_all_four_kinds_of_call_pass_through_both_sidecars(app: int) -> None:
    async with mesh(app) as (client, server):
        echo = stub(client)
        assert await call(echo.unary, b"hello", timeout=10) == b"echo:hello"
        assert await call(lambda: list(echo.server_stream(b"3", timeout=10))) == [b"echo:0", b"echo:1", b"echo:2"]
        assert await call(echo.client_stream, iter([b"a", b"b", b"c"]), timeout=10) == b"echo:a+b+c"
        assert await call(lambda: list(echo.bidi(iter([b"x", b"y"]), timeout=10))) == [b"echo:x", b"echo:y"]
        assert grpc_of(client, "outbound") == {0: 4} and grpc_of(server, "inbound") == {0: 4}
        assert server.http2.upstreams.h2.connections == 1  # the app's connection, multiplexed


async def test_an_error_status_is_relayed_and_counted_as_a_grpc_failure_with_http_200(app: int) -> None:
    async with mesh(app) as (client, _):
        with pytest.raises(grpc.RpcError) as caught:
            await call(stub(client).unary, b"fail please", timeout=10)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.details() == "asked to fail"
        assert responses_of(client, "outbound") == {200: 1}
        assert grpc_of(client, "outbound") == {3: 1}


async def test_a_deadline_is_honoured_by_the_sidecars(app: int) -> None:
    async with mesh(app) as (client, _):
        with pytest.raises(grpc.RpcError) as caught:
            await call(stub(client).unary, b"sleep:3", timeout=0.3)
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert await call(stub(client).unary, b"after", timeout=10) == b"echo:after"


async def test_a_call_no_traffic_target_allows_is_denied_by_the_server_sidecar(app: int) -> None:
    only_other = AllowRule("default/echo/HTTPRouteGroup/other", (CLIENT_ID,), "http", (),
                           (HttpMatch("other", path_regex="/test.Echo/ClientStream"),))  # fmt: skip
    async with mesh(app, rules=(only_other,)) as (client, server):
        with pytest.raises(grpc.RpcError) as caught:
            await call(stub(client).unary, b"hello", timeout=10)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert await call(stub(client).client_stream, iter([b"ok"]), timeout=10) == b"echo:ok"
        denied = sum(s.denied for labels, s in server.metrics.edges.items() if labels[0] == "inbound")
        assert denied == 1


async def test_many_calls_share_one_mtls_free_connection_between_the_sidecars(app: int) -> None:
    async with mesh(app) as (client, _):
        echo = stub(client)
        answers = await asyncio.gather(*(call(echo.unary, b"%d" % i, timeout=10) for i in range(20)))
        assert sorted(answers) == sorted(b"echo:%d" % i for i in range(20))
        assert client.http2.upstreams.h2.opened == 1
