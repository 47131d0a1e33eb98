"""gRPC status codes as retry conditions: a real grpcio server and client through two sidecars over strict mTLS.

The server answers a share of its calls with ``UNAVAILABLE`` (a trailers-only answer: the
status in the response head, no message).  With an UpstreamTrafficPolicy that lists
``unavailable`` the caller's sidecar retries them and the client sees (almost) only
successes; without it every failure reaches the client.  Counts only, bounded in number.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent import futures
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest

from proxy.running import Proxy
from smi.proxyconfig import AllowRule, Endpoint
from smi.proxyconfig.resilience import ClusterResilience, RetryBudgetConfig, RetryConfig
from tests.proxy.harness import CLIENT_ID, SERVER_ID, SERVER_IP, client_config, cluster, server_config, service
from tests.proxy.test_mtls_e2e import ControlPlane, cp, sidecar

pytestmark = pytest.mark.timeout(120)
__all__ = ["cp"]

METHOD = "/test.Flaky/Unary"
AUTHORITY = "flaky.default:50051"
ALLOW = AllowRule("default/flaky/HTTPRouteGroup/all", (CLIENT_ID,), "http", (), None)
UNAVAILABLE_RETRIED = ClusterResilience(
    policy="default/flaky",
    retry=RetryConfig(retry_on=(), grpc_status_codes=(14,), max_retries=3, backoff_base_ms=1, backoff_max_ms=5),
    budget=RetryBudgetConfig(retry_ratio=0.5),  # covers 20% failures at any call rate (the HTTP test checks 0.2)
)


class FlakyServer:
    """A grpcio server whose ``Unary`` fails a seeded random share of calls with UNAVAILABLE.

    ``Down`` always answers UNAVAILABLE (trailers-only); ``StreamThenDown`` sends one message,
    then UNAVAILABLE in the trailers.  ``Slow`` answers after 2 s of silence; ``StreamThenSlow``
    sends one message, then nothing for 2 s, then one more.  ``counts`` has the calls each
    ``Down``-like method received.
    """

    def __init__(self, share: float) -> None:
        self.share = share
        self.random = random.Random(5)
        self.lock = threading.Lock()
        self.calls = self.failed = 0
        self.counts: dict[str, int] = {"Down": 0, "StreamThenDown": 0}
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handler = grpc.method_handlers_generic_handler(
            "test.Flaky",
            {
                "Unary": grpc.unary_unary_rpc_method_handler(self.unary),
                "Down": grpc.unary_unary_rpc_method_handler(self.down),
                "StreamThenDown": grpc.unary_stream_rpc_method_handler(self.stream_then_down),
                "Slow": grpc.unary_unary_rpc_method_handler(self.slow),
                "StreamThenSlow": grpc.unary_stream_rpc_method_handler(self.stream_then_slow),
            },
        )
        self.server.add_generic_rpc_handlers((handler,))
        self.port = self.server.add_insecure_port(f"{SERVER_IP}:0")

    def unary(self, request: bytes, context: Any) -> bytes:
        with self.lock:
            self.calls += 1
            fail = self.random.random() < self.share
            self.failed += fail
        if fail:
            context.abort(grpc.StatusCode.UNAVAILABLE, "flaky on purpose")
        return b"ok:" + request

    def down(self, request: bytes, context: Any) -> bytes:
        with self.lock:
            self.counts["Down"] += 1
        context.abort(grpc.StatusCode.UNAVAILABLE, "down")
        return b""  # not reached: abort raises

    def slow(self, request: bytes, context: Any) -> bytes:
        time.sleep(2.0)  # the fault: silence longer than the policy's idle timeout
        return b"late"

    def stream_then_slow(self, request: bytes, context: Any) -> Iterator[bytes]:
        yield b"first"
        time.sleep(2.0)  # the fault: silence in the middle of the response
        yield b"second"

    def stream_then_down(self, request: bytes, context: Any) -> Iterator[bytes]:
        with self.lock:
            self.counts["StreamThenDown"] += 1
        yield b"first"
        context.abort(grpc.StatusCode.UNAVAILABLE, "down after a message")


@pytest.fixture
def flaky_grpc() -> Iterator[FlakyServer]:
    server = FlakyServer(0.2)
    server.server.start()
    yield server
    server.server.stop(0)


@asynccontextmanager
async def grpc_mesh(plane: ControlPlane, app: FlakyServer, policy: ClusterResilience | None) -> AsyncIterator[Proxy]:
    """App <- server sidecar (strict mTLS, inbound) <- client sidecar (outbound, the policy): the client sidecar."""
    scfg = server_config(app_port=app.port, protocol="http2", rules=(ALLOW,))
    async with sidecar(plane, scfg, sa="server", inbound=(SERVER_IP, 0), outbound=None) as server:
        endpoint = Endpoint(SERVER_IP, app.port, pod="flaky-pod", namespace="default", identity=SERVER_ID,
                            proxy_port=server.addresses["inbound"][1], workload="flaky")  # fmt: skip
        clusters = (cluster("default/flaky:50051", endpoint, protocol="http2", resilience=policy),)
        ccfg = client_config((service("flaky", 50051, "default/flaky:50051", protocol="http2"),), clusters)
        ccfg = dataclasses.replace(ccfg, node=dataclasses.replace(ccfg.node, pod="client-pod"))
        async with sidecar(plane, ccfg, sa="client") as client:
            assert client.tls is not None and client.tls.material.identity == CLIENT_ID
            yield client


def _calls(client: Proxy, count: int) -> list[grpc.StatusCode]:
    host, port = client.addresses["outbound"]
    options = [("grpc.default_authority", AUTHORITY), ("grpc.enable_http_proxy", 0), ("grpc.enable_retries", 0)]
    codes = []
    with grpc.insecure_channel(f"{host}:{port}", options=options) as channel:
        unary = channel.unary_unary(METHOD)
        for i in range(count):
            try:
                assert unary(b"%d" % i, timeout=10) == b"ok:%d" % i
                codes.append(grpc.StatusCode.OK)
            except grpc.RpcError as e:
                codes.append(e.code())
    return codes


def _edges(client: Proxy) -> tuple[int, int]:
    edges = [e for labels, e in client.metrics.edges.items() if labels[0] == "outbound"]
    return sum(e.requests for e in edges), sum(e.errors.get("retried", 0) for e in edges)


async def test_unavailable_answers_are_retried_over_mtls_and_the_client_sees_success(
    cp: ControlPlane, flaky_grpc: FlakyServer
) -> None:
    count = 300
    async with grpc_mesh(cp, flaky_grpc, UNAVAILABLE_RETRIED) as client:
        codes = await asyncio.to_thread(_calls, client, count)
        requests, retried = _edges(client)
        assert client.pool.tls_opened >= 1
    assert codes.count(grpc.StatusCode.OK) >= 0.99 * count, f"{count - codes.count(grpc.StatusCode.OK)} failures"
    assert flaky_grpc.failed >= 0.1 * count  # the server really failed about a fifth of its calls
    assert requests == count  # calls as the app made them
    assert retried == flaky_grpc.calls - count  # attempts as sent = calls + retries


async def test_without_the_policy_the_unavailable_answers_reach_the_client(
    cp: ControlPlane, flaky_grpc: FlakyServer
) -> None:
    count = 150
    async with grpc_mesh(cp, flaky_grpc, None) as client:
        codes = await asyncio.to_thread(_calls, client, count)
        _, retried = _edges(client)
    failures = codes.count(grpc.StatusCode.UNAVAILABLE)
    assert failures == flaky_grpc.failed > 0
    assert codes.count(grpc.StatusCode.OK) == count - failures
    assert retried == 0 and flaky_grpc.calls == count


def _once(client: Proxy, method: str, request: bytes, *, stream: bool = False) -> tuple[grpc.StatusCode, int]:
    """One call: its status and the messages the client received before it."""
    host, port = client.addresses["outbound"]
    options = [("grpc.default_authority", AUTHORITY), ("grpc.enable_http_proxy", 0), ("grpc.enable_retries", 0)]
    received = 0
    with grpc.insecure_channel(f"{host}:{port}", options=options) as channel:
        try:
            if stream:
                for _ in channel.unary_stream(f"/test.Flaky/{method}")(request, timeout=10):
                    received += 1
            else:
                channel.unary_unary(f"/test.Flaky/{method}")(request, timeout=10)
        except grpc.RpcError as e:
            return e.code(), received
    return grpc.StatusCode.OK, received


async def test_what_is_not_retried_a_status_after_response_data_and_a_request_over_the_buffer(
    cp: ControlPlane, flaky_grpc: FlakyServer
) -> None:
    generous = dataclasses.replace(UNAVAILABLE_RETRIED, budget=RetryBudgetConfig(retry_ratio=3.0))  # 3 per call
    async with grpc_mesh(cp, flaky_grpc, generous) as client:
        # trailers-only UNAVAILABLE, a small request: 1 + numRetries (3) attempts, then the status
        assert await asyncio.to_thread(_once, client, "Down", b"x") == (grpc.StatusCode.UNAVAILABLE, 0)
        assert flaky_grpc.counts["Down"] == 4
        # the same over the 64 KiB retry buffer: sent once
        big = b"x" * (80 * 1024)
        assert await asyncio.to_thread(_once, client, "Down", big) == (grpc.StatusCode.UNAVAILABLE, 0)
        assert flaky_grpc.counts["Down"] == 5
        # UNAVAILABLE in trailers after a message: the response had begun, it is relayed as it is
        answer = await asyncio.to_thread(_once, client, "StreamThenDown", b"x", stream=True)
        assert answer == (grpc.StatusCode.UNAVAILABLE, 1)
        assert flaky_grpc.counts["StreamThenDown"] == 1


async def test_a_silent_call_ends_at_the_idle_timeout_504_before_the_response_reset_after(
    cp: ControlPlane, flaky_grpc: FlakyServer
) -> None:
    idle = dataclasses.replace(UNAVAILABLE_RETRIED, idle_timeout_ms=500)
    async with grpc_mesh(cp, flaky_grpc, idle) as client:
        code, received = await asyncio.to_thread(_once, client, "Slow", b"x")
        assert (code, received) == (grpc.StatusCode.DEADLINE_EXCEEDED, 0)  # the sidecar's 504, gRPC-shaped
        code, received = await asyncio.to_thread(_once, client, "StreamThenSlow", b"x", stream=True)
        assert received == 1 and code != grpc.StatusCode.OK  # the stream is reset after its first message
        assert client.metrics.error_total("idle_timeout") == 2
