"""The circuit breaker: limits refuse at once and close again when the count drops."""

from __future__ import annotations

from proxy.resilience.breaking import CircuitBreaker, CircuitLimits


def test_envoy_defaults() -> None:
    limits = CircuitLimits()
    assert (limits.max_connections, limits.max_pending, limits.max_requests, limits.max_retries) == (
        1024,
        1024,
        1024,
        3,
    )


def test_opens_at_the_configured_concurrency_and_closes_after() -> None:
    breaker = CircuitBreaker(CircuitLimits(max_requests=3))
    assert all(breaker.try_request() for _ in range(3))
    assert breaker.is_open
    assert not breaker.try_request()
    assert breaker.opened == 1
    breaker.release_request()
    assert not breaker.is_open
    assert breaker.try_request()
    assert breaker.opened == 1


def test_each_counter_has_its_own_limit() -> None:
    breaker = CircuitBreaker(CircuitLimits(max_connections=1, max_pending=2, max_retries=0))
    assert breaker.try_connection()
    assert not breaker.try_connection()
    assert breaker.try_pending() and breaker.try_pending()
    assert not breaker.try_pending()
    assert not breaker.try_retry()
    assert breaker.opened == 3
    breaker.release_connection()
    breaker.release_connection()  # an extra release never goes below zero
    assert breaker.connections == 0
