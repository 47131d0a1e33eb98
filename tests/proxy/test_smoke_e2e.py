"""Basic forwarding through the outbound listener: absolute-form and origin-form, keep-alive."""

from __future__ import annotations

import aiohttp

from tests.proxy.harness import client_config, cluster, ep, proxy_url, running_proxy, service


async def test_get_through_outbound_proxy(backends):
    web = await backends("web")
    cfg = client_config((service("web", 8080, "default/web:8080"),), (cluster("default/web:8080", ep(web)),))
    async with running_proxy(cfg) as proxy, aiohttp.ClientSession() as session:
        async with session.get("http://web.default:8080/hello?x=1", proxy=proxy_url(proxy)) as r:
            assert r.status == 200
            assert await r.text() == "web GET /hello?x=1 0"
        async with session.get(proxy_url(proxy) + "/origin", headers={"Host": "web:8080"}) as r:
            assert r.status == 200
            assert await r.text() == "web GET /origin 0"
    assert web.requests[0][2]["Host"] == "web.default:8080"
