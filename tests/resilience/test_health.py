"""Active health checks: schedule and thresholds."""

from __future__ import annotations

import pytest

from proxy.resilience.clocks import ManualClock
from proxy.resilience.health import HealthChecker, HealthCheckSpec
from proxy.resilience.selecting import choose, usable


def test_schedule_and_thresholds() -> None:
    clock = ManualClock()
    spec = HealthCheckSpec(interval=5.0, healthy_threshold=2, unhealthy_threshold=3)
    checker = HealthChecker(["a", "b"], spec, clock=clock)
    assert checker.is_healthy("a")  # optimistic start
    assert checker.due() == ["a", "b"]
    assert checker.due() == []  # in flight
    checker.report("a", ok=False)
    checker.report("b", ok=True)
    assert checker.next_due() == clock() + 5.0
    for _ in range(2):
        clock.advance(5.0)
        assert checker.due() == ["a", "b"]
        checker.report("a", ok=False)
        checker.report("b", ok=True)
    assert not checker.is_healthy("a")
    assert checker.any_unhealthy
    assert choose(iter(["a", "b"]).__next__, 2, None, checker) == "b"
    clock.advance(5.0)
    checker.due()
    checker.report("a", ok=True)
    assert not checker.is_healthy("a")
    clock.advance(5.0)
    checker.due()
    checker.report("a", ok=True)
    assert checker.is_healthy("a")
    assert not checker.any_unhealthy
    assert checker.transitions == 2


def test_all_unhealthy_is_not_usable_but_still_chosen() -> None:
    clock = ManualClock()
    checker = HealthChecker(["a"], HealthCheckSpec(kind="tcp", unhealthy_threshold=1), clock=clock)
    checker.due()
    checker.report("a", ok=False)
    assert not usable(["a"], None, checker)
    assert choose(lambda: "a", 1, None, checker) == "a"


def test_bad_spec() -> None:
    with pytest.raises(ValueError, match="kind"):
        HealthCheckSpec(kind="grpc")
