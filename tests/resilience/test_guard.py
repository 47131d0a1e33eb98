"""DestinationGuard: built from the config contract, carried across config swaps."""

from __future__ import annotations

from proxy.compiled import any_match
from proxy.headers import RequestHead
from proxy.resilience.clocks import ManualClock
from proxy.resilience.guard import DestinationGuard
from smi.proxyconfig import Endpoint
from smi.proxyconfig.resilience import (
    CircuitConfig,
    ClusterResilience,
    RetryConfig,
    RouteResilience,
)
from smi.proxyconfig.types import HttpMatch


def _eps() -> tuple[Endpoint, ...]:
    return (Endpoint("10.0.0.1", 80), Endpoint("10.0.0.2", 80))


def test_defaults_without_a_policy() -> None:
    guard = DestinationGuard("default/web:80", _eps(), None)
    assert guard.retry.retry_on == frozenset({"connect-failure"}) and guard.retry.max_retries == 1
    assert guard.breaker.limits.max_requests == 1024 and guard.breaker.limits.max_retries == 3
    assert guard.outliers.spec.enabled and guard.outliers.spec.consecutive_failures == 7
    assert guard.health is None and guard.routes == ()


def test_a_swap_keeps_one_breaker_and_the_ejections_of_endpoints_that_stay() -> None:
    clock = ManualClock()
    old = DestinationGuard("default/web:80", _eps(), ClusterResilience(circuit=CircuitConfig(max_requests=2)),
                           clock=clock)  # fmt: skip
    assert old.breaker.try_request()
    for _ in range(7):
        old.outliers.record(old.endpoints[0], ok=False)
    new = DestinationGuard("default/web:80", _eps(), ClusterResilience(circuit=CircuitConfig(max_requests=5)),
                           clock=clock)  # fmt: skip
    new.carry_from(old)
    assert new.breaker is old.breaker and new.breaker.limits.max_requests == 5
    old.breaker.release_request()  # a request of the old version ends: the shared count drops
    assert new.breaker.requests == 0
    assert new.outliers.is_ejected(new.endpoints[0])


def test_route_overrides_match_with_the_proxys_semantics() -> None:
    res = ClusterResilience(
        retry=RetryConfig(retry_on=("connect-failure",)),
        routes=(
            RouteResilience(
                "default/p/routes",
                (HttpMatch("buy", path_regex="/buy", methods=("POST",)), HttpMatch("bad", path_regex="(")),
                request_timeout_ms=1500,
                retry=RetryConfig(retry_on=("5xx",), max_retries=2, retry_non_idempotent=True),
            ),
        ),
    )
    guard = DestinationGuard("default/web:80", _eps(), res)
    (route,) = guard.routes
    assert len(route.matches) == 1  # the bad regex is skipped, never widened
    assert any_match(route.matches, RequestHead("POST", "/buy/now"))
    assert not any_match(route.matches, RequestHead("GET", "/buy"))
    assert route.retry.max_retries == 2 and route.request_timeout == 1.5


def test_the_defaults_table_in_the_docs_is_the_code_table() -> None:
    from pathlib import Path

    from proxy.resilience.defaults import DEFAULTS_TABLE

    text = (Path(__file__).resolve().parents[2] / "docs" / "resilience.md").read_text()
    section = text.split("## Defaults (no policy written)", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split(" | ") for line in section.splitlines() if line.startswith("| ")]
    assert [(what.strip(), value.strip()) for what, value in rows[2:]] == list(DEFAULTS_TABLE)
