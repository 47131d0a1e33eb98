"""TrafficSplit through the outbound listener: counts seen by each real backend."""

from __future__ import annotations

import aiohttp
import pytest

from tests.proxy.harness import (
    HttpMatch,
    SplitRoute,
    WeightedCluster,
    client_config,
    cluster,
    ep,
    proxy_url,
    running_proxy,
    service,
)


async def _split_setup(backends, weights, matches=()):
    root = await backends("root", "127.0.0.21")
    v1 = await backends("v1", "127.0.0.22")
    v2 = await backends("v2", "127.0.0.23")
    split = SplitRoute(
        "default/web-split",
        (
            WeightedCluster("default/web-v1:80", weights[0], "web-v1"),
            WeightedCluster("default/web-v2:80", weights[1], "web-v2"),
        ),
        matches,
    )
    cfg = client_config(
        (service("web", 80, "default/web:80", splits=(split,)),),
        (
            cluster("default/web:80", ep(root)),
            cluster("default/web-v1:80", ep(v1)),
            cluster("default/web-v2:80", ep(v2)),
        ),
    )
    return root, v1, v2, cfg


async def _send(proxy, n, **kw):
    async with aiohttp.ClientSession() as session:
        for _ in range(n):
            async with session.get("http://web/", proxy=proxy_url(proxy), **kw) as r:
                assert r.status == 200
                await r.read()


@pytest.mark.parametrize(("weights", "expect"), [((1, 0), (50, 0)), ((0, 1), (0, 50))])
async def test_all_or_nothing_split_is_exact(backends, weights, expect):
    root, v1, v2, cfg = await _split_setup(backends, weights)
    async with running_proxy(cfg) as proxy:
        await _send(proxy, 50)
    assert (v1.count(), v2.count(), root.count()) == (*expect, 0)


async def test_75_25_split_holds_over_400_requests(backends):
    root, v1, v2, cfg = await _split_setup(backends, (75, 25))
    async with running_proxy(cfg) as proxy:
        async with aiohttp.ClientSession() as session:
            for i in range(400):  # one at a time, numbered: the order each backend saw them in is known
                async with session.get(f"http://web/{i}", proxy=proxy_url(proxy)) as r:
                    assert r.status == 200
                    await r.read()
        async with aiohttp.ClientSession() as session, session.get(proxy_url(proxy, "admin") + "/metrics") as r:
            metrics = await r.text()
    assert 'backend="web-v1"' in metrics and 'route="default/web-split"' in metrics
    # smooth weighted round-robin is deterministic: v1 v1 v2 v1 in every window of 4, in order
    served = {int(path[1:]): "v1" for _, path, _ in v1.requests} | {int(path[1:]): "v2" for _, path, _ in v2.requests}
    assert [served[i] for i in range(400)] == ["v1", "v1", "v2", "v1"] * 100
    assert root.count() == 0


async def test_v1alpha4_matches_send_only_matching_requests_to_the_split(backends):
    root, v1, v2, cfg = await _split_setup(backends, (0, 1), (HttpMatch("beta", headers=(("x-beta", "yes"),)),))
    async with running_proxy(cfg) as proxy:
        await _send(proxy, 5, headers={"x-beta": "yes"})
        await _send(proxy, 7)
    assert (v2.count(), root.count(), v1.count()) == (5, 7, 0)
