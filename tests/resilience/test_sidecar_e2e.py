"""Resilience through a real sidecar to fault-injecting backends running as processes.

Counts and status codes only: every loop is bounded in count (and by the suite's timeout).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Sequence

import aiohttp

from smi.proxyconfig import Endpoint
from smi.proxyconfig.resilience import (
    CircuitConfig,
    ClusterResilience,
    HealthCheckConfig,
    InboundRateLimit,
    OutlierConfig,
    RetryBudgetConfig,
    RetryConfig,
    RouteResilience,
)
from smi.proxyconfig.types import (
    HttpMatch,
    InboundConfig,
    InboundPort,
    ProxyConfig,
    ProxyNode,
    SplitRoute,
    WeightedCluster,
)
from tests.proxy.harness import client_config, cluster, proxy_url, running_proxy, service, wait_until
from tests.resilience.processes import FlakyProcess, flaky_process


def _endpoint(p: FlakyProcess) -> Endpoint:
    return Endpoint(p.host, p.port, pod=f"store-{p.port}", namespace="default", workload="store")


def _config(backends: Sequence[FlakyProcess], resilience: ClusterResilience | None = None) -> ProxyConfig:
    clusters = (cluster("default/store:80", *(_endpoint(b) for b in backends), resilience=resilience),)
    return client_config((service("store", 80, "default/store:80"),), clusters)


async def _get(session: aiohttp.ClientSession, url: str, proxy: str) -> tuple[int, dict[str, str]]:
    async with session.get(url, proxy=proxy) as response:
        await response.read()
        return response.status, dict(response.headers)


async def test_a_replica_failing_every_request_is_ejected() -> None:
    async with (
        flaky_process("127.0.0.41", error_share=1.0) as bad,
        flaky_process("127.0.0.42") as good,
        running_proxy(_config([bad, good])) as proxy,
        aiohttp.ClientSession() as session,
    ):
        failures = 0
        for _ in range(200):  # until the 7 consecutive failures have ejected it
            status, _ = await _get(session, "http://store/books", proxy_url(proxy))
            failures += status != 200
            if failures >= 7:
                break
        assert failures == 7
        cluster_labels = {"cluster": "default/store:80", "policy": ""}
        assert proxy.registry.get_sample_value("smi_outlier_ejected_endpoints", cluster_labels) == 1
        assert proxy.registry.get_sample_value("smi_outlier_ejections_total", cluster_labels) == 1
        statuses = [(await _get(session, "http://store/books", proxy_url(proxy)))[0] for _ in range(1000)]
        success = statuses.count(200) / len(statuses)
        assert success >= 0.995, f"{statuses.count(503)} failures after ejection"
        assert (await good.stats())["ok"] >= 995


async def test_retries_hide_twenty_percent_of_503s() -> None:
    """The issue's check with Linkerd's default budget (ratio 0.2, at least 10 retries/s, 10 s).

    20% failures with up to 3 retries need about 0.25 retries per request; the default budget
    gives 0.2 per request plus 10 per second.  At 50 requests/s that is 12.5 retries/s needed
    against 20/s allowed, so the default budget covers them: the client is paced at that rate
    (600 requests, about 12 s), which is load shaping, not a wait for a condition.
    """
    policy = ClusterResilience(
        policy="default/store",
        retry=RetryConfig(retry_on=("5xx",), max_retries=3, backoff_base_ms=1, backoff_max_ms=5),
    )
    assert policy.budget == RetryBudgetConfig()  # the defaults: ratio 0.2, 10/s, 10 s
    count, rate = 600, 50.0
    async with (
        flaky_process("127.0.0.43", error_share=0.2) as store,
        running_proxy(_config([store], policy)) as proxy,
        aiohttp.ClientSession() as session,
    ):
        statuses: list[int] = []
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in range(count):
            await asyncio.sleep(max(0.0, start + i / rate - loop.time()))  # pacing: 50 requests per second
            statuses.append((await _get(session, "http://store/books", proxy_url(proxy)))[0])
        stats = await store.stats()
    assert statuses.count(200) >= 0.99 * count, f"{statuses.count(503)} failures seen by the client"
    assert stats["errors"] >= 0.1 * count  # the backend really failed about a fifth of the attempts
    metrics = proxy.metrics
    retried = sum(edge.errors.get("retried", 0) for edge in metrics.edges.values())
    requests = sum(edge.requests for edge in metrics.edges.values())
    assert requests == count  # requests as the app made them
    assert retried == stats["requests"] - count  # attempts as sent = requests + retries


async def test_the_retry_budget_holds_when_every_request_fails() -> None:
    policy = ClusterResilience(
        policy="default/store",
        retry=RetryConfig(retry_on=("5xx",), max_retries=5, backoff_base_ms=1, backoff_max_ms=2),
        outliers=OutlierConfig(enabled=False),
    )
    started = time.monotonic()
    async with (
        flaky_process("127.0.0.44", error_share=1.0) as store,
        running_proxy(_config([store], policy)) as proxy,
        aiohttp.ClientSession() as session,
    ):
        sent = 0
        for _ in range(600):
            status, _ = await _get(session, "http://store/books", proxy_url(proxy))
            assert status == 503
            sent += 1
        received = (await store.stats())["requests"]
    elapsed = time.monotonic() - started
    retries = received - sent
    assert retries > 0
    assert retries <= 0.2 * sent + 10 * elapsed, f"{retries} retries for {sent} requests in {elapsed:.1f} s"


async def test_the_circuit_opens_at_the_configured_concurrency_and_closes_after() -> None:
    policy = ClusterResilience(policy="default/store", circuit=CircuitConfig(max_requests=4))
    async with (
        flaky_process("127.0.0.45", hang_share=1.0) as store,
        running_proxy(_config([store], policy)) as proxy,
        aiohttp.ClientSession() as session,
    ):
        url = proxy_url(proxy)
        host, port = proxy.addresses["outbound"]
        hanging = []
        for _ in range(4):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"GET /books HTTP/1.1\r\nHost: store\r\n\r\n")
            hanging.append((reader, writer))
        for _ in range(500):  # bounded: until all four hang in the backend
            if (await store.stats())["in_flight"] == 4:
                break
            await asyncio.sleep(0.01)
        assert (await store.stats())["in_flight"] == 4
        refused = [await _get(session, "http://store/books", url) for _ in range(3)]
        assert [status for status, _ in refused] == [503, 503, 503]
        assert all(headers.get("x-smi-circuit") == "open" for _, headers in refused)
        assert (await store.stats())["requests"] == 4  # refused at once, never sent
        for _, writer in hanging:  # the callers give up (reset), which frees their slots
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.close()
        await store.configure(hang_share=0.0)
        statuses = []
        for _ in range(200):  # bounded: until the cancelled requests' slots are given back
            statuses.append((await _get(session, "http://store/books", url))[0])
            if statuses[-1] == 200:
                break
        assert statuses[-1] == 200
        errors = sum(edge.errors.get("circuit_open", 0) for edge in proxy.metrics.edges.values())
        assert errors >= 3


async def test_rate_limit_at_three_times_the_limit_refuses_the_excess() -> None:
    rate = 40
    config = ProxyConfig(
        node=ProxyNode("default", "store-pod", "store", "spiffe://cluster.local/ns/default/sa/store", "127.0.0.12"),
        inbound=InboundConfig(
            ports=(InboundPort(0, "http", "app"),),
            app_address="127.0.0.46",
            permissive=True,
            rate_limits=(InboundRateLimit(policy="default/store", total_rps=rate),),
        ),
    )
    async with flaky_process("127.0.0.46") as store:
        config = ProxyConfig(
            node=config.node,
            inbound=InboundConfig(
                ports=(InboundPort(store.port, "http", "app"),),
                app_address=store.host,
                permissive=True,
                rate_limits=config.inbound.rate_limits,
            ),
        )
        async with running_proxy(config, inbound=("127.0.0.12", 0), outbound=None) as proxy:
            host, port = proxy.addresses["inbound"]
            statuses: list[int] = []
            retry_after: set[str] = set()
            async with aiohttp.ClientSession() as session:
                started = time.monotonic()
                for i in range(3 * rate * 4):  # 4 s at three times the limit, paced
                    due = started + i / (3 * rate)
                    wait = due - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    async with session.get(f"http://{host}:{port}/books") as response:
                        await response.read()
                        statuses.append(response.status)
                        if response.status == 429:
                            retry_after.add(response.headers.get("retry-after", ""))
                elapsed = time.monotonic() - started
    refused = statuses.count(429)
    excess = len(statuses) - rate * elapsed
    assert abs(refused - excess) <= 0.05 * excess, f"{refused} refused, excess {excess:.0f}"
    assert retry_after == {"1"}
    assert statuses.count(200) + refused == len(statuses)


async def test_a_policy_edited_under_load_loses_no_request() -> None:
    """Config swaps (a policy changed back and forth) while requests flow: every request answered 200."""
    first = ClusterResilience(policy="default/store", circuit=CircuitConfig(max_requests=100))
    second = ClusterResilience(
        policy="default/store", retry=RetryConfig(retry_on=("5xx",), max_retries=2), circuit=CircuitConfig()
    )
    async with (
        flaky_process("127.0.0.47") as one,
        flaky_process("127.0.0.48") as two,
        running_proxy(_config([one, two], first)) as proxy,
        aiohttp.ClientSession() as session,
    ):
        url = proxy_url(proxy)

        async def caller() -> list[int]:
            return [(await _get(session, "http://store/books", url))[0] for _ in range(150)]

        callers = [asyncio.ensure_future(caller()) for _ in range(4)]
        for version in range(2, 12):  # ten swaps while the callers run
            await asyncio.sleep(0)
            proxy.holder.swap(_config([one, two], second if version % 2 else first), version=version)
            await asyncio.sleep(0.02)
        results = await asyncio.gather(*callers)
        guard = proxy.holder.runtime.guards[0]  # type: ignore[union-attr]
    statuses = [s for r in results for s in r]
    assert statuses == [200] * 600
    assert guard.breaker.requests == 0  # every slot given back across the swaps


async def test_a_split_backend_whose_endpoints_are_ejected_gives_its_share_away() -> None:
    async with (
        flaky_process("127.0.0.49") as v1,
        flaky_process("127.0.0.50", error_share=1.0) as v2,
    ):
        clusters = (
            cluster("default/store:80"),
            cluster("default/store-v1:80", _endpoint(v1)),
            cluster("default/store-v2:80", _endpoint(v2)),
        )
        split = SplitRoute(
            "default/split",
            (
                WeightedCluster("default/store-v1:80", 50, "store-v1"),
                WeightedCluster("default/store-v2:80", 50, "store-v2"),
            ),
        )
        config = client_config((service("store", 80, "default/store:80", splits=(split,)),), clusters)
        async with running_proxy(config) as proxy, aiohttp.ClientSession() as session:
            url = proxy_url(proxy)
            failures = 0
            for _ in range(100):  # until v2's only endpoint has failed 7 times in a row
                failures += (await _get(session, "http://store/books", url))[0] != 200
                if failures >= 7:
                    break
            assert failures == 7
            statuses = [(await _get(session, "http://store/books", url))[0] for _ in range(400)]
    assert statuses.count(200) >= 0.99 * len(statuses)  # v2's 50% went to v1 (probes aside)


async def test_an_endpoint_failing_its_health_check_gets_no_traffic_until_healthy() -> None:
    policy = ClusterResilience(
        policy="default/store",
        outliers=OutlierConfig(enabled=False),  # only the active checks decide here
        health=HealthCheckConfig(
            kind="http", path="/healthz", interval_ms=100, timeout_ms=1000, healthy_threshold=1, unhealthy_threshold=2
        ),
    )
    async with (
        flaky_process("127.0.0.51", error_share=1.0) as sick,
        flaky_process("127.0.0.52") as well,
        running_proxy(_config([sick, well], policy)) as proxy,
        aiohttp.ClientSession() as session,
    ):
        runtime = proxy.holder.runtime
        assert runtime is not None
        checker = runtime.guards[0].health
        assert checker is not None
        sick_ep = runtime.guards[0].endpoints[0]
        await wait_until(lambda: not checker.is_healthy(sick_ep), what="the sick endpoint to fail its checks")
        statuses = [(await _get(session, "http://store/books", proxy_url(proxy)))[0] for _ in range(200)]
        assert statuses == [200] * 200
        assert (await sick.stats())["by_path"].get("/books", 0) == 0  # only probes reached it
        await sick.configure(error_share=0.0)
        await wait_until(lambda: checker.is_healthy(sick_ep), what="the endpoint to pass its checks again")
        for _ in range(20):
            assert (await _get(session, "http://store/books", proxy_url(proxy)))[0] == 200
        assert (await sick.stats())["by_path"].get("/books", 0) > 0  # back in rotation


async def test_a_route_override_retries_only_its_requests() -> None:
    policy = ClusterResilience(
        policy="default/store",
        budget=RetryBudgetConfig(retry_ratio=1.0),
        outliers=OutlierConfig(enabled=False),
        routes=(
            RouteResilience(
                "default/store/routes",
                (HttpMatch("books", path_regex="/books"),),
                retry=RetryConfig(retry_on=("gateway-error",), max_retries=4, backoff_base_ms=1, backoff_max_ms=2),
            ),
        ),
    )
    async with (
        flaky_process("127.0.0.53", error_share=0.3) as store,
        running_proxy(_config([store], policy)) as proxy,
        aiohttp.ClientSession() as session,
    ):
        url = proxy_url(proxy)
        books = [(await _get(session, "http://store/books", url))[0] for _ in range(200)]
        other = [(await _get(session, "http://store/other", url))[0] for _ in range(200)]
    assert books.count(200) >= 196  # retried by the route's policy
    assert other.count(503) >= 20  # the destination's policy: no retry on 503


async def test_the_connection_limit_refuses_a_new_connection_with_the_circuit_header() -> None:
    policy = ClusterResilience(policy="default/store", circuit=CircuitConfig(max_connections=2))
    async with (
        flaky_process("127.0.0.54", hang_share=1.0) as store,
        running_proxy(_config([store], policy)) as proxy,
        aiohttp.ClientSession() as session,
    ):
        host, port = proxy.addresses["outbound"]
        hanging = []
        for _ in range(2):  # two requests hang, each on its own upstream connection
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"GET /books HTTP/1.1\r\nHost: store\r\n\r\n")
            hanging.append((reader, writer))
        await wait_until(lambda: proxy.holder.runtime.guards[0].breaker.connections == 2, what="two connections")  # type: ignore[union-attr]
        status, headers = await _get(session, "http://store/books", proxy_url(proxy))
        assert status == 503 and headers.get("x-smi-circuit") == "open"
        for _, writer in hanging:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.close()
        await wait_until(lambda: proxy.holder.runtime.guards[0].breaker.connections == 0, what="connections closed")  # type: ignore[union-attr]
        await store.configure(hang_share=0.0)
        assert (await _get(session, "http://store/books", proxy_url(proxy)))[0] == 200


async def test_tcp_connections_over_the_rate_are_closed_and_counted() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    app = await asyncio.start_server(echo, "127.0.0.55", 0)
    app_port = app.sockets[0].getsockname()[1]
    config = ProxyConfig(
        node=ProxyNode("default", "store-pod", "store", "spiffe://cluster.local/ns/default/sa/store", "127.0.0.12"),
        inbound=InboundConfig(
            ports=(InboundPort(app_port, "tcp", "echo"),),
            app_address="127.0.0.55",
            permissive=True,
            rate_limits=(InboundRateLimit(policy="default/store", connections_per_second=5),),
        ),
    )
    try:
        async with running_proxy(config, inbound=("127.0.0.12", 0), outbound=None) as proxy:
            host, port = proxy.addresses["inbound"]
            started = time.monotonic()
            echoed = 0
            for _ in range(20):
                reader, writer = await asyncio.open_connection(host, port)
                writer.write(b"ping\n")
                try:
                    line = await asyncio.wait_for(reader.readline(), timeout=10)
                except (ConnectionError, TimeoutError):
                    line = b""
                echoed += line == b"ping\n"
                writer.close()
            elapsed = time.monotonic() - started
            refused = 20 - echoed
            assert 1 <= echoed <= 1 + 5 * elapsed + 1
            assert proxy.registry.get_sample_value("smi_rate_limited_total") == refused
    finally:
        app.close()
        await app.wait_closed()
