"""HTTP/2 between sidecars over strict mTLS: ALPN h2, the peer's identity checked, one connection multiplexed.

Also the conversion HTTP/1.1 -> HTTP/2 between sidecars with ``h1_over_h2`` over mTLS.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from tests.http2.test_http2_clients_e2e import curl, run
from tests.proxy.harness import SERVER_ID, proxy_url
from tests.proxy.test_mtls_e2e import ControlPlane, at, client_of, cp, mesh_server, sidecar

pytestmark = pytest.mark.timeout(60)
__all__ = ["cp"]


def alpn_of_peer_connections(proxy: Any) -> list[str | None]:
    return [
        c.transport.get_extra_info("ssl_object").selected_alpn_protocol()
        for conns in proxy.http2.upstreams.h2.conns.values()
        for c in conns
        if c.transport is not None
    ]


async def test_http2_between_sidecars_negotiates_h2_and_multiplexes_one_mtls_connection(
    cp: ControlPlane, backends: Any
) -> None:
    async with mesh_server(cp, backends) as (app, server), sidecar(cp, client_of(app, server), sa="client") as client:
        results = await asyncio.gather(*(run(*curl(client, f"/m{i}", "--http2-prior-knowledge")) for i in range(8)))
        for i, (code, out, err) in enumerate(results):
            assert code == 0, err
            assert out.decode().splitlines() == [f"app GET /m{i} 0", "200 2"]
        assert alpn_of_peer_connections(client) == ["h2"]
        assert client.pool.tls_opened == 1  # eight clients, one mTLS connection to the peer
        assert server.registry.get_sample_value("smi_inbound_tls_connections_total", {"result": "mtls_accepted"}) == 1


async def test_a_peer_with_the_wrong_identity_is_refused_over_http2_too(cp: ControlPlane, backends: Any) -> None:
    async with mesh_server(cp, backends) as (app, server), sidecar(
        cp, client_of(app, server, identity="spiffe://cluster.local/ns/default/sa/other"), sa="client"
    ) as client:
        code, out, err = await run(*curl(client, "/x", "--http2-prior-knowledge"))
        assert code == 0, err
        text, status = out.decode().splitlines()[0], out.decode().splitlines()[-1]
        assert status == "503 2" and "peer identity rejected" in text and SERVER_ID in text
        assert app.count() == 0


async def test_http1_requests_ride_the_mtls_http2_connection_with_h1_over_h2(cp: ControlPlane, backends: Any) -> None:
    async with mesh_server(cp, backends) as (app, server), sidecar(
        cp, at(client_of(app, server), "127.0.0.11", "client"), sa="client", h1_over_h2=True
    ) as client:

        async def one(i: int) -> tuple[int, str]:
            async with aiohttp.ClientSession() as s, s.get(f"http://app/h{i}", proxy=proxy_url(client)) as r:
                return r.status, await r.text()

        answers = await asyncio.gather(*(one(i) for i in range(10)))
        assert sorted(answers) == sorted((200, f"app GET /h{i} 0") for i in range(10))
        assert alpn_of_peer_connections(client) == ["h2"] and client.pool.tls_opened == 1
