"""The policy's idle timeout (``timeouts.idle``) per destination, through a real sidecar to backend processes.

A pooled upstream connection to the destination closes after it (another destination's stays,
under the sidecar's own pool timeout); an exchange with no byte either way for that long gets
504 before a response and a reset after one, each counted as ``idle_timeout``.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest

from proxy.running import Proxy
from smi.proxyconfig import Endpoint
from smi.proxyconfig.resilience import ClusterResilience
from smi.proxyconfig.types import ProxyConfig
from tests.proxy.harness import client_config, cluster, proxy_url, running_proxy, service, wait_until
from tests.resilience.processes import flaky_process

pytestmark = pytest.mark.timeout(60)
IDLE = ClusterResilience(policy="default/store", idle_timeout_ms=400)


def _endpoint(host: str, port: int, name: str) -> Endpoint:
    return Endpoint(host, port, pod=f"{name}-{port}", namespace="default", workload=name)


def _two_destinations(store: tuple[str, int], other: tuple[str, int]) -> ProxyConfig:
    """``store`` with the idle policy, ``other`` without one."""
    clusters = (
        cluster("default/store:80", _endpoint(*store, "store"), resilience=IDLE),
        cluster("default/other:80", _endpoint(*other, "other")),
    )
    services = (service("store", 80, "default/store:80"), service("other", 80, "default/other:80"))
    return client_config(services, clusters)


def _pooled(proxy: Proxy, port: int) -> int:
    return sum(len(conns) for key, conns in proxy.pool.idle.items() if key[1] == port)


@asynccontextmanager
async def stalling_process(host: str) -> AsyncIterator[tuple[str, int]]:
    """``tests.resilience.stalling`` as a process: every response starts, then stalls."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.resilience.stalling", env={**os.environ, "HOST": host},
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        found = re.search(rb"listening on ([0-9.]+):([0-9]+)", line)
        assert found, f"the stalling backend did not start: {line!r}"
        yield found.group(1).decode(), int(found.group(2))
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


async def test_pooled_connections_to_the_destination_close_after_its_idle_timeout() -> None:
    async with (
        flaky_process("127.0.0.46") as store,
        flaky_process("127.0.0.47") as other,
        running_proxy(_two_destinations((store.host, store.port), (other.host, other.port))) as proxy,
        aiohttp.ClientSession() as session,
    ):
        for host in ("store", "other"):
            async with session.get(f"http://{host}/books", proxy=proxy_url(proxy)) as response:
                assert response.status == 200
                await response.read()
        await wait_until(lambda: _pooled(proxy, store.port) == 1 and _pooled(proxy, other.port) == 1,
                         what="both upstream connections pooled")  # fmt: skip
        await wait_until(lambda: _pooled(proxy, store.port) == 0, what="the store's pooled connection closed")
        assert _pooled(proxy, other.port) == 1  # no policy: the sidecar's own pool timeout (60 s)


async def test_an_exchange_idle_before_the_response_gets_504_counted() -> None:
    async with (
        flaky_process("127.0.0.48", hang_share=1.0) as store,
        flaky_process("127.0.0.49") as other,
        running_proxy(_two_destinations((store.host, store.port), (other.host, other.port))) as proxy,
        aiohttp.ClientSession() as session,
        session.get("http://store/books", proxy=proxy_url(proxy)) as response,
    ):
        assert response.status == 504
        assert "upstream idle" in await response.text()
        assert proxy.metrics.error_total("idle_timeout") == 1
        assert proxy.metrics.error_total("timeout") == 0  # the request timeout (15 s) did not fire


async def test_an_exchange_idle_after_the_response_began_is_reset_counted() -> None:
    async with (
        stalling_process("127.0.0.50") as store,
        flaky_process("127.0.0.51") as other,
        running_proxy(_two_destinations(store, (other.host, other.port))) as proxy,
        aiohttp.ClientSession() as session,
        session.get("http://store/books", proxy=proxy_url(proxy)) as response,
    ):
        assert response.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()  # 5 of 100 bytes, then the connection is reset
        assert proxy.metrics.error_total("idle_timeout") == 1
