"""The HTTP/2 call's guard (``proxy.http2.retries``): which calls are replayed and which answers retried."""

from __future__ import annotations

from proxy.headers import RequestHead
from proxy.http2.retries import admit
from proxy.resilience.guard import DestinationGuard
from proxy.resilience.retrying import Failure
from smi.proxyconfig import Endpoint
from smi.proxyconfig.resilience import CircuitConfig, ClusterResilience, RetryBudgetConfig, RetryConfig

EP = Endpoint("127.0.0.21", 8080, pod="web-a", namespace="default", workload="web")
POST = RequestHead("POST", "/test.Echo/Unary", {})
GET = RequestHead("GET", "/books", {})
GRPC_UNAVAILABLE = ClusterResilience(
    policy="default/web",
    retry=RetryConfig(retry_on=("5xx",), grpc_status_codes=(14,), max_retries=2),
    budget=RetryBudgetConfig(retry_ratio=5.0),
)


def _guard(config: ClusterResilience | None) -> DestinationGuard:
    return DestinationGuard("default/web:80", (EP,), config)


def test_a_trailers_only_listed_status_is_retried_until_the_limit() -> None:
    call = admit(_guard(GRPC_UNAVAILABLE), POST, grpc_call=True, now=0.0)
    assert call is not None and call.replayable  # listing gRPC statuses makes gRPC calls replayable
    assert not call.retry_response(200, 3, now=0.0, ended=True)  # INVALID_ARGUMENT: not listed
    assert not call.retry_response(200, None, now=0.0, ended=True)  # not trailers-only: never
    assert call.retry_response(200, 14, now=0.0, ended=True)
    call.record(EP, ok=False)
    assert call.retry_response(200, 14, now=0.0, ended=True)
    call.record(EP, ok=False)
    assert not call.retry_response(200, 14, now=0.0, ended=True)  # max_retries (2) reached
    call.release()


def test_not_retried_before_the_request_ended_or_over_the_buffer() -> None:
    call = admit(_guard(GRPC_UNAVAILABLE), POST, grpc_call=True, now=0.0)
    assert call is not None
    assert not call.retry_response(200, 14, now=0.0, ended=False)  # the request is still streaming
    call.keep(b"x" * (64 * 1024 + 1))
    assert not call.replayable
    assert not call.retry_response(200, 14, now=0.0, ended=True)


def test_a_grpc_call_without_grpc_statuses_in_the_policy_is_sent_once() -> None:
    call = admit(_guard(None), POST, grpc_call=True, now=0.0)  # the mesh defaults
    assert call is not None and not call.replayable
    assert not call.retry_failure(Failure.RESET, now=0.0, ended=True)
    get = admit(_guard(ClusterResilience(policy="p", retry=RetryConfig(retry_on=("reset",)))), GET, grpc_call=False,
                now=0.0)  # fmt: skip
    assert get is not None and get.replayable


def test_the_budget_and_the_circuit_hold_for_calls_too() -> None:
    guard = _guard(
        ClusterResilience(policy="p", retry=RetryConfig(grpc_status_codes=(14,), max_retries=3),
                          budget=RetryBudgetConfig(retry_ratio=0.0, min_retries_per_second=10),
                          circuit=CircuitConfig(max_requests=1))
    )  # fmt: skip
    call = admit(guard, POST, grpc_call=True, now=100.0)
    assert call is not None
    assert admit(guard, POST, grpc_call=True, now=100.0) is None  # the circuit's request limit
    assert not call.retry_response(200, 14, now=100.0, ended=True)  # the reserve starts empty
    assert call.retry_response(200, 14, now=100.2, ended=True)  # two retries' worth after 0.2 s
    call.release()
    assert admit(guard, POST, grpc_call=True, now=100.3) is not None
