"""Protocol conversion HTTP/1.1 -> HTTP/2: an HTTP/1.1 client reaching an HTTP/2 (gRPC) app, and
HTTP/1.1 requests riding one multiplexed HTTP/2 connection between sidecars (``h1_over_h2``)."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import aiohttp
import pytest

from proxy.running import Proxy
from smi.proxyconfig import AllowRule
from tests.http2 import grpc_app
from tests.http2.test_grpc_mesh import grpc_of, mesh
from tests.proxy.harness import (
    CLIENT_ID,
    SERVER_IP,
    client_config,
    cluster,
    ep,
    proxy_url,
    running_proxy,
    server_config,
    service,
)

pytestmark = pytest.mark.timeout(60)


async def http1_exchange(proxy: Proxy, request: bytes) -> bytes:
    """Send one HTTP/1.1 request (with ``Connection: close``) to the outbound listener; the whole answer."""
    host, port = proxy.addresses["outbound"]
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        return await asyncio.wait_for(reader.read(-1), 20)
    finally:
        writer.close()


def unary_request(message: bytes, *, te_trailers: bool = True) -> bytes:
    body = struct.pack(">BI", 0, len(message)) + message  # one gRPC message frame
    te = b"te: trailers\r\n" if te_trailers else b""
    return (b"POST /test.Echo/Unary HTTP/1.1\r\nhost: echo.default:50051\r\ncontent-type: application/grpc\r\n"
            b"%bconnection: close\r\ncontent-length: %d\r\n\r\n%b" % (te, len(body), body))  # fmt: skip


def last_chunk(answer: bytes) -> bytes:
    """The chunked body's last chunk with its trailer fields (``0\\r\\n`` ... ``\\r\\n``)."""
    rest = answer.partition(b"\r\n\r\n")[2]
    return rest[rest.rindex(b"\r\n0\r\n") + 2 :]


@pytest.mark.parametrize("h1_over_h2", [False, True], ids=["http1-between-sidecars", "h1-over-h2"])
async def test_an_http1_client_calls_a_grpc_app_and_reads_grpc_status_from_the_trailers(h1_over_h2: bool) -> None:
    app, port = grpc_app.serve(SERVER_IP, 0, "echo")
    try:
        async with mesh(port, h1_over_h2=h1_over_h2) as (client, server):
            message = b"from http/1.1"
            answer = await http1_exchange(client, unary_request(message))
            failed = await http1_exchange(client, unary_request(b"fail please"))
            quiet = await http1_exchange(client, unary_request(message, te_trailers=False))
            counted = grpc_of(client, "outbound"), grpc_of(server, "inbound")
    finally:
        app.stop(0)
    head_part, _, rest = answer.partition(b"\r\n\r\n")
    lines = head_part.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert b"transfer-encoding: chunked" in lines and b"content-type: application/grpc" in lines
    expected = b"echo:" + message
    assert struct.pack(">BI", 0, len(expected)) + expected in rest
    trailers = last_chunk(answer)
    assert b"\r\ngrpc-status: 0\r\n" in trailers and trailers.endswith(b"\r\n\r\n")
    assert failed.startswith(b"HTTP/1.1 200 OK\r\n")  # a gRPC error travels in the trailers, HTTP says 200
    # grpcio answers an error trailers-only: its status comes in the HTTP/1.1 head, as the head of a 200
    assert b"\r\ngrpc-status: 3\r\n" in failed and b"grpc-message: asked to fail" in failed
    assert last_chunk(quiet) == b"0\r\n\r\n"  # no TE: trailers, no trailers (RFC 9110 section 6.5.1)
    # the destination's sidecar classifies every call by grpc-status; the caller's too when the status
    # reaches it: in HTTP/2 trailers, or in HTTP/1.1 trailers between the sidecars when the client asked
    # for trailers (the call without TE: trailers gets none over HTTP/1.1, so its status stays unknown there)
    assert counted[1] == {0: 2, 3: 1}
    assert counted[0] == ({0: 2, 3: 1} if h1_over_h2 else {0: 1, 3: 1})


async def test_http1_requests_ride_one_multiplexed_http2_connection_between_sidecars(backends: Any) -> None:
    app = await backends("app", SERVER_IP)
    allow = AllowRule("default/all/HTTPRouteGroup/all", (CLIENT_ID,), "http", (), None)
    async with running_proxy(server_config(app_port=app.port, rules=(allow,)), inbound=(SERVER_IP, 0),
                             outbound=None) as server:  # fmt: skip
        endpoint = ep(app, proxy_port=server.addresses["inbound"][1])
        ccfg = client_config((service("app", 80, "default/app:80"),), (cluster("default/app:80", endpoint),))
        async with running_proxy(ccfg, inbound=None, h1_over_h2=True) as client:

            async def one(i: int) -> tuple[int, str]:
                # a new client connection per request: what many short-lived HTTP/1.1 callers do
                async with aiohttp.ClientSession() as s, s.post(
                    f"http://app/r{i}", data=b"x" * i, proxy=proxy_url(client)
                ) as r:
                    return r.status, await r.text()

            answers = await asyncio.gather(*(one(i) for i in range(30)))
            assert sorted(answers) == sorted((200, f"app POST /r{i} {i}") for i in range(30))
            assert client.http2.upstreams.h2.opened == 1  # one HTTP/2 connection to the peer carried them all
            async with aiohttp.ClientSession() as s, s.get("http://nowhere/", proxy=proxy_url(client)) as r:
                assert r.status == 404
            edges = [s for labels, s in client.metrics.edges.items() if labels[5] == "app"]
            assert sum(s.responses.get(200, 0) for s in edges) == 30


async def test_calls_converted_to_http1_reuse_a_kept_alive_connection_to_the_app(backends: Any) -> None:
    app = await backends("app", SERVER_IP)
    allow = AllowRule("default/all/HTTPRouteGroup/all", (CLIENT_ID,), "http", (), None)
    async with running_proxy(server_config(app_port=app.port, rules=(allow,)), inbound=(SERVER_IP, 0),
                             outbound=None) as server:  # fmt: skip
        endpoint = ep(app, proxy_port=server.addresses["inbound"][1])
        ccfg = client_config((service("app", 80, "default/app:80"),), (cluster("default/app:80", endpoint),))
        async with running_proxy(ccfg, inbound=None, h1_over_h2=True) as client:
            for i in range(10):  # one after the other
                async with aiohttp.ClientSession() as s, s.get(f"http://app/s{i}", proxy=proxy_url(client)) as r:
                    assert (r.status, await r.text()) == (200, f"app GET /s{i} 0")
            idle = [side for sides in server.http2.upstreams.h1_idle.values() for side in sides]
            assert len(idle) == 1 and idle[0].served == 10


async def test_a_port_that_declares_nothing_calls_the_app_in_the_protocol_the_caller_spoke(backends: Any) -> None:
    """HTTP/1.1 riding HTTP/2 between sidecars (``--h1-over-h2``) reaches an HTTP/1.1 app as HTTP/1.1 on a
    ``detect`` port (the calling sidecar marks it ``smi-orig-proto``; the app never sees the mark), and a
    gRPC (HTTP/2) caller reaches a gRPC app on a ``detect`` port as HTTP/2."""
    app = await backends("app", SERVER_IP)
    allow = AllowRule("default/all/HTTPRouteGroup/all", (CLIENT_ID,), "http", (), None)
    async with running_proxy(server_config(app_port=app.port, protocol="detect", rules=(allow,)),
                             inbound=(SERVER_IP, 0), outbound=None) as server:  # fmt: skip
        endpoint = ep(app, proxy_port=server.addresses["inbound"][1])
        ccfg = client_config((service("app", 80, "default/app:80", protocol="detect"),),
                             (cluster("default/app:80", endpoint),))  # fmt: skip
        async with running_proxy(ccfg, inbound=None, h1_over_h2=True) as client:
            async with aiohttp.ClientSession() as s, s.post("http://app/h1", data=b"abc", proxy=proxy_url(client)) as r:
                assert (r.status, await r.text()) == (200, "app POST /h1 3")
            assert client.http2.upstreams.h2.opened == 1  # it did ride HTTP/2 between the sidecars
            assert "smi-orig-proto" not in {k.lower() for k in app.requests[-1][2]}
    grpc_server, port = grpc_app.serve(SERVER_IP, 0, "echo")
    try:
        async with mesh(port, app_protocol="detect") as (client, _):
            host, outbound = client.addresses["outbound"]
            echo = grpc_app.Echo(grpc_app.channel(f"{host}:{outbound}", "echo.default:50051"))
            assert await asyncio.to_thread(echo.unary, b"hi", timeout=10) == b"echo:hi"
    finally:
        grpc_server.stop(0)
