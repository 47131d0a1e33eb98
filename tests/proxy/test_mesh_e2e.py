"""The full mesh path: client sidecar (outbound) -> server sidecar (inbound) -> app.

Covers identity from the source address, PROXY v2 target ports, access allow/deny by path,
method and header (403 with the app receiving nothing), TCP pass-through and TCP deny.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import aiohttp

from proxy import proxyproto
from proxy.settings import Forward
from smi.proxyconfig import AllowRule, HttpMatch
from tests.proxy.harness import (
    CLIENT_ID,
    OTHER_ID,
    SERVER_IP,
    client_config,
    cluster,
    ep,
    proxy_url,
    running_proxy,
    server_config,
    service,
    wait_until,
)

API_RULE = AllowRule(
    "default/api-access/HTTPRouteGroup/api",
    (CLIENT_ID,),
    "http",
    (),
    (HttpMatch("api", path_regex="/api", methods=("GET",), headers=(("x-team", "blue|green"),)),),
)


@asynccontextmanager
async def mesh(backends, *, rules=(API_RULE,), protocol="http", forwards=(), permissive=False):
    app = await backends("app", SERVER_IP)
    scfg = server_config(app_port=app.port, protocol=protocol, rules=rules, permissive=permissive)
    async with running_proxy(scfg, inbound=(SERVER_IP, 0), outbound=None) as server:
        inbound_port = server.addresses["inbound"][1]
        endpoint = ep(app, proxy_port=inbound_port, identity="spiffe://cluster.local/ns/default/sa/server")
        ccfg = client_config(
            (service("app", 80, "default/app:80", protocol=protocol),),
            (cluster("default/app:80", endpoint, protocol=protocol),),
        )
        async with running_proxy(ccfg, inbound=None, forwards=forwards) as client:
            yield app, server, client


async def _get(client, path, **kw):
    async with aiohttp.ClientSession() as s, s.get(f"http://app{path}", proxy=proxy_url(client), **kw) as r:
        return r.status, await r.text()


async def test_allowed_request_reaches_the_app_through_both_sidecars(backends):
    async with mesh(backends) as (_app, server, client):
        status, text = await _get(client, "/api/items", headers={"x-team": "blue"})
        assert (status, text) == (200, "app GET /api/items 0")
        metrics = server.registry.get_sample_value(
            "smi_requests_total",
            {
                "direction": "inbound", "source_namespace": "default", "source_workload": "",
                "source_identity": CLIENT_ID, "destination_namespace": "default", "destination_service": "",
                "destination_workload": "server", "destination_identity": "spiffe://cluster.local/ns/default/sa/server",
                "route": API_RULE.name, "backend": "", "tls": "false",  # plain text: no claim is backed
            },
        )  # fmt: skip
        assert metrics == 1


async def test_denied_requests_get_403_with_a_reason_and_the_app_sees_nothing(backends):
    async with mesh(backends) as (app, server, client):
        for path, method, headers in (
            ("/admin", "GET", {"x-team": "blue"}),
            ("/api/items", "DELETE", {"x-team": "blue"}),
            ("/api/items", "GET", {"x-team": "red"}),
            ("/api/items", "GET", {}),
        ):
            async with (
                aiohttp.ClientSession() as s,
                s.request(method, f"http://app{path}", proxy=proxy_url(client), headers=headers) as r,
            ):
                assert r.status == 403
                assert f"no TrafficTarget allows {CLIENT_ID} to {method} {path}" in await r.text()
        assert app.count() == 0
        denied = sum(s.denied for s in server.metrics.edges.values())
        assert denied == 4


async def test_unknown_caller_is_denied_and_permissive_mode_allows_it(backends):
    async with mesh(backends, rules=(AllowRule("x", (OTHER_ID,), "http"),)) as (app, _server, client):
        status, _text = await _get(client, "/api")
        assert status == 403
        assert app.count() == 0
    async with mesh(backends, rules=(), permissive=True) as (_app, _server, client):
        assert (await _get(client, "/anything"))[0] == 200


async def test_connection_without_proxy_header_goes_to_the_only_port(backends):
    async with mesh(backends, rules=(), permissive=True) as (app, server, _client):
        host, port = server.addresses["inbound"]
        async with aiohttp.ClientSession() as s, s.get(f"http://{host}:{port}/direct") as r:
            assert r.status == 200
    assert app.requests[-1][1] == "/direct"


async def _echo_server(host):
    received = []

    async def handle(reader, writer):
        while data := await reader.read(65536):
            received.append(data)
            writer.write(data.upper())
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, host, 0)
    return server, received


async def test_tcp_pass_through_via_forward_and_inbound_tcp_port(backends):
    echo, _received = await _echo_server(SERVER_IP)
    echo_port = echo.sockets[0].getsockname()[1]
    rules = (AllowRule("default/db/TCPRoute/db", (CLIENT_ID,), "tcp", (echo_port,)),)
    scfg = server_config(app_port=echo_port, protocol="tcp", rules=rules)
    async with running_proxy(scfg, inbound=(SERVER_IP, 0), outbound=None) as server:
        endpoint = ep(
            type("B", (), {"host": SERVER_IP, "port": echo_port, "name": "db"})(),
            proxy_port=server.addresses["inbound"][1],
        )
        ccfg = client_config(
            (service("db", 5432, "default/db:5432", protocol="tcp"),),
            (cluster("default/db:5432", endpoint, protocol="tcp"),),
        )
        fw = Forward(("127.0.0.1", 0), "default", "db", 5432)
        async with running_proxy(ccfg, inbound=None, outbound=None, forwards=(fw,)) as client:
            host, port = client.addresses["forward:db.default:5432"]
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"hello tcp")
            assert await reader.readexactly(9) == b"HELLO TCP"
            writer.close()
            await wait_until(lambda: sum(s.tcp_closed for s in client.metrics.edges.values()) == 1)
            edge = next(s for s in client.metrics.edges.values() if s.tcp_opened)
            assert (edge.tcp_sent, edge.tcp_received) == (9, 9)
    echo.close()


async def test_tcp_connection_without_a_rule_is_closed(backends):
    echo, received = await _echo_server(SERVER_IP)
    echo_port = echo.sockets[0].getsockname()[1]
    scfg = server_config(app_port=echo_port, protocol="tcp", rules=(AllowRule("other", (OTHER_ID,), "tcp"),))
    async with running_proxy(scfg, inbound=(SERVER_IP, 0), outbound=None) as server:
        host, port = server.addresses["inbound"]
        reader, writer = await asyncio.open_connection(host, port, local_addr=("127.0.0.11", 0))
        writer.write(
            proxyproto.encode(src_address="127.0.0.11", src_port=1, dst_address=SERVER_IP, dst_port=echo_port) + b"data"
        )
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        assert sum(s.denied for s in server.metrics.edges.values()) == 1
    assert received == []
    echo.close()


async def test_forward_for_unknown_service_refuses_until_config_has_it(backends):
    fw = Forward(("127.0.0.1", 0), "default", "app", 80)
    cfg = client_config((), ())
    async with running_proxy(cfg, inbound=None, outbound=None, forwards=(fw,)) as client:
        host, port = client.addresses["forward:app.default:80"]
        reader, writer = await asyncio.open_connection(host, port)
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        app = await backends("app", "127.0.0.21")
        client.holder.swap(
            client_config((service("app", 80, "default/app:80"),), (cluster("default/app:80", ep(app)),)), version=2
        )
        async with aiohttp.ClientSession() as s, s.get(f"http://{host}:{port}/via-forward") as r:
            assert r.status == 200
            assert await r.text() == "app GET /via-forward 0"
