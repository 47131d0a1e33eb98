"""The HTTP core with a destination policy, event by event (no sockets, the clock moved by hand)."""

from __future__ import annotations

from proxy.holder import ConfigHolder
from proxy.http import commands as c
from proxy.http import events as ev
from proxy.http.attempts import ConnectFailure
from proxy.http.connection import HttpConnection
from proxy.metrics import Metrics
from proxy.outbound import OutboundRouter
from smi.proxyconfig.resilience import CircuitConfig, ClusterResilience, RetryBudgetConfig, RetryConfig
from tests.proxy.core_harness import OK, WEB_A, WEB_B, Clock, Core, of, status_of
from tests.proxy.harness import client_config, cluster, service

GET = b"GET /books HTTP/1.1\r\nHost: web\r\n\r\n"
POST = b"POST /books HTTP/1.1\r\nHost: web\r\ncontent-length: 3\r\n\r\nabc"
BAD = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nfail"


def _cores(policy: ClusterResilience, n: int = 1) -> list[Core]:
    config = client_config(
        (service("web", 80, "default/web:80"),), (cluster("default/web:80", WEB_A, WEB_B, resilience=policy),)
    )
    metrics = Metrics()
    holder = ConfigHolder(metrics)
    holder.swap(config, version=1)
    assert holder.runtime is not None
    for guard in holder.runtime.guards:
        guard.uniform = lambda: 0.5  # the backoff's jitter, fixed: half the ceiling
    clock = Clock()
    cores = []
    for _ in range(n):
        conn = HttpConnection(router=OutboundRouter(holder=holder, metrics=metrics), clock=clock)
        core = Core(conn, clock, metrics)
        core(ev.ClientConnected())
        cores.append(core)
    return cores


RETRY_5XX = ClusterResilience(
    policy="default/web",
    budget=RetryBudgetConfig(retry_ratio=1.0),  # a fresh budget's reserve is empty: deposits pay here
    retry=RetryConfig(retry_on=("5xx",), max_retries=2, backoff_base_ms=10, backoff_max_ms=10),
)


def test_a_503_is_retried_on_another_endpoint_after_the_backoff_and_the_client_sees_one_answer() -> None:
    (core,) = _cores(RETRY_5XX)
    core.send(GET)
    first = core.connect()
    core(ev.UpstreamData(first, BAD))
    assert core.written() == b""  # the failed answer is not relayed
    assert of(core.last, c.CloseUpstream)  # ... and its connection is dropped
    assert not of(core.last, c.OpenUpstream)  # the backoff runs first
    timer = of(core.last, c.SetTimer)[-1].at
    core.clock.now = timer
    core(ev.DeadlineReached())
    second = core.connect()
    assert second.key != first.key  # another endpoint
    assert b"GET /books" in core.sent_upstream(second)
    core(ev.UpstreamData(second, OK))
    assert status_of(core.written()) == 200
    assert core.errors("retried") == 1


def test_a_post_is_not_retried_without_the_policy_saying_so() -> None:
    (core,) = _cores(RETRY_5XX)
    core.send(POST)
    first = core.connect()
    core(ev.UpstreamData(first, BAD))
    assert status_of(core.written()) == 503
    assert core.errors("retried") == 0


def test_a_replayed_body_is_sent_again() -> None:
    policy = ClusterResilience(
        policy="default/web",
        retry=RetryConfig(retry_on=("5xx",), max_retries=1, backoff_base_ms=0, backoff_max_ms=0,
                          retry_non_idempotent=True),
        budget=RetryBudgetConfig(retry_ratio=1.0),
    )  # fmt: skip
    (core,) = _cores(policy)
    core.send(POST)
    first = core.connect()
    core(ev.UpstreamData(first, BAD))
    second = core.connect()
    assert core.sent_upstream(second).endswith(b"\r\n\r\nabc")


def test_the_pending_limit_refuses_at_once_with_the_circuit_header() -> None:
    policy = ClusterResilience(policy="default/web", circuit=CircuitConfig(max_pending=1))
    one, two = _cores(policy, 2)
    one.send(GET)
    assert of(one.last, c.OpenUpstream)  # connecting: one pending request
    two.send(GET)
    answer = two.written()
    assert status_of(answer) == 503 and b"x-smi-circuit: open" in answer
    one.connect()  # connected: the pending slot is given back
    two.send(GET)
    assert of(two.last, c.OpenUpstream)


def test_the_retry_budget_runs_on_the_cores_clock() -> None:
    """No deposits (ratio 0): only the reserve pays, and it fills as the core's clock moves, not the real one."""
    policy = ClusterResilience(
        policy="default/web",
        budget=RetryBudgetConfig(retry_ratio=0.0, min_retries_per_second=10),
        retry=RetryConfig(retry_on=("5xx",), max_retries=1, backoff_base_ms=0, backoff_max_ms=0),
    )
    (core,) = _cores(policy)
    core.send(GET)
    core(ev.UpstreamData(core.connect(), BAD))
    assert status_of(core.written()) == 503  # the reserve starts empty: no retry
    assert core.errors("retried") == 0

    core.clock.now += 0.15  # 1.5 retries' worth of reserve at 10 per second
    core.send(GET)
    core(ev.UpstreamData(core.connect(), BAD))
    core(ev.UpstreamData(core.connect(), OK))
    assert status_of(core.written()) == 200
    assert core.errors("retried") == 1

    core.send(GET)  # the clock has not moved: half a retry left, not enough
    core(ev.UpstreamData(core.connect(), BAD))
    assert status_of(core.written()) == 503
    assert core.errors("retried") == 1


def test_a_failed_connect_is_retried_for_idempotent_requests_only_unless_the_policy_widens_it() -> None:
    refused = ConnectFailure("connect_failed", "upstream unreachable: refused")
    (core,) = _cores(ClusterResilience())  # the mesh defaults
    core.send(POST)
    core(ev.UpstreamConnectFailed(core.attempt(), refused))
    assert status_of(core.written()) == 503  # a POST is sent once, even when nothing was sent
    core.send(GET)
    core(ev.UpstreamConnectFailed(core.attempt(), refused))
    assert core.attempt().number == 2  # a GET goes to the other endpoint

    widened = ClusterResilience(policy="default/web", retry=RetryConfig(retry_non_idempotent=True))
    (core,) = _cores(widened)
    core.send(POST)
    core(ev.UpstreamConnectFailed(core.attempt(), refused))
    second = core.connect()
    assert core.sent_upstream(second).endswith(b"\r\n\r\nabc")


def test_bytes_either_way_keep_an_exchange_alive_and_silence_ends_it_after_the_idle_timeout() -> None:
    (core,) = _cores(ClusterResilience(policy="default/web", idle_timeout_ms=1000))

    def later(seconds: float) -> None:
        core.clock.now += seconds
        core(ev.DeadlineReached())

    core.send(b"POST /up HTTP/1.1\r\nHost: web\r\ncontent-length: 3\r\n\r\na")
    upstream = core.connect()
    later(0.8)
    core.send(b"b")  # a client byte, 0.8 s after the last one
    later(0.8)
    core.send(b"c")  # the request is complete
    later(0.8)
    assert core.written() == b""  # 2.4 s in all, never 1 s without a byte: still waiting
    core(ev.UpstreamData(upstream, b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nhello"))
    assert status_of(core.written()) == 200
    later(0.8)
    assert not of(core.last, c.CloseClient)
    later(0.2)  # 1 s without a byte either way, the response under way: the client connection is reset
    assert of(core.last, c.CloseClient) and of(core.last, c.CloseUpstream)
    assert core.errors("idle_timeout") == 1


def test_an_exchange_silent_before_its_response_gets_504_at_the_idle_timeout() -> None:
    (core,) = _cores(ClusterResilience(policy="default/web", idle_timeout_ms=1000))
    timers = of(core.send(GET), c.SetTimer)
    assert timers and timers[-1].at <= core.clock.now + 1.0  # the shell's timer fires by the idle timeout
    core.connect()
    core.clock.now += 1.0
    core(ev.DeadlineReached())
    answer = core.written()
    assert status_of(answer) == 504 and b"upstream idle" in answer
    assert core.errors("idle_timeout") == 1 and core.errors("timeout") == 0
