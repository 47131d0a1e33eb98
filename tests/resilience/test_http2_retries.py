"""HTTP/2 requests use the same retries as HTTP/1.1: h2load (h2c, prior knowledge, multiplexed) through two sidecars.

h2load -> client sidecar (the policy) -> HTTP/2 between the sidecars -> server sidecar ->
the fault-injecting backend (HTTP/1.1: the server sidecar converts), failing a fifth of its
requests with 503.  Counts only, bounded in number.
"""

from __future__ import annotations

import asyncio
import re
import shutil

import pytest

from smi.proxyconfig import AllowRule, Endpoint
from smi.proxyconfig.resilience import ClusterResilience, RetryBudgetConfig, RetryConfig
from tests.proxy.harness import CLIENT_ID, SERVER_IP, client_config, cluster, running_proxy, server_config, service
from tests.resilience.processes import flaky_process

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(shutil.which("h2load") is None, reason="needs h2load (Debian nghttp2-client)"),
]
ALLOW = AllowRule("default/store/HTTPRouteGroup/all", (CLIENT_ID,), "http", (), None)
_STATUS = re.compile(rb"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx")


async def _h2load(host: str, port: int, count: int) -> tuple[int, int]:
    """(2xx, 5xx) of ``count`` GETs of ``store/books``: one connection, 4 streams at a time."""
    proc = await asyncio.create_subprocess_exec(
        "h2load", "-n", str(count), "-c", "1", "-m", "4", "-H", ":authority: store", f"http://{host}:{port}/books",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    found = _STATUS.search(out)
    assert found, (out, err)
    return int(found.group(1)), int(found.group(4))


@pytest.mark.parametrize("with_policy", [True, False], ids=["policy", "defaults"])
async def test_http2_requests_are_retried_on_503_like_http1(with_policy: bool) -> None:
    policy = ClusterResilience(
        policy="default/store",
        retry=RetryConfig(retry_on=("5xx",), max_retries=3, backoff_base_ms=1, backoff_max_ms=5),
        budget=RetryBudgetConfig(retry_ratio=0.5),  # covers 20% failures at any request rate
    )
    count = 400
    async with flaky_process(SERVER_IP, error_share=0.2) as store:
        server_side = server_config(app_port=store.port, rules=(ALLOW,))
        async with running_proxy(server_side, inbound=(SERVER_IP, 0), outbound=None) as server:
            endpoint = Endpoint(SERVER_IP, store.port, pod="store-1", namespace="default", workload="store",
                                identity="", proxy_port=server.addresses["inbound"][1])  # fmt: skip
            clusters = (cluster("default/store:80", endpoint, resilience=policy if with_policy else None),)
            config = client_config((service("store", 80, "default/store:80"),), clusters)
            async with running_proxy(config, inbound=None) as proxy:
                ok, failed = await _h2load(*proxy.addresses["outbound"], count)
                stats = await store.stats()
                requests = sum(e.requests for e in proxy.metrics.edges.values())
                retried = proxy.metrics.error_total("retried")
    assert requests == count  # requests as the app made them
    assert retried == stats["requests"] - count  # attempts as sent
    assert stats["errors"] >= 0.1 * count
    if with_policy:
        assert ok >= 0.99 * count, f"{failed} failures seen by the client"
    else:  # the mesh defaults retry only failed connects: every 503 reaches the client
        assert (ok, failed, retried) == (count - stats["errors"], stats["errors"], 0)
