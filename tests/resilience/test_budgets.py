"""The retry budget: ratio of requests plus a reserve refilled over time, deposits expire."""

from __future__ import annotations

import pytest

from proxy.resilience.budgets import RetryBudget, RetryBudgetSpec
from proxy.resilience.clocks import ManualClock


def _drain(budget: RetryBudget, now: float, limit: int = 100_000) -> int:
    taken = 0
    while taken < limit and budget.try_withdraw(now):
        taken += 1
    return taken


def test_a_fresh_budget_has_no_reserve() -> None:
    clock = ManualClock()
    budget = RetryBudget()
    assert not budget.try_withdraw(clock())
    clock.advance(0.05)
    assert not budget.try_withdraw(clock())  # half a retry in the reserve so far


def test_ratio_of_requests() -> None:
    clock = ManualClock()
    budget = RetryBudget(RetryBudgetSpec(retry_ratio=0.2, min_retries_per_second=0))
    for _ in range(100):
        budget.deposit(clock())
    assert _drain(budget, clock()) == 20


def test_reserve_fills_at_min_per_second_up_to_ttl_worth() -> None:
    clock = ManualClock()
    budget = RetryBudget(RetryBudgetSpec(retry_ratio=0.2, min_retries_per_second=10, ttl=10))
    assert _drain(budget, clock()) == 0  # the reserve starts filling at the first call
    clock.advance(1.0)
    assert _drain(budget, clock()) == 10
    clock.advance(60.0)
    assert _drain(budget, clock()) == 100


def test_deposits_expire_after_ttl() -> None:
    clock = ManualClock()
    budget = RetryBudget(RetryBudgetSpec(retry_ratio=0.5, min_retries_per_second=0, ttl=10))
    for _ in range(10):
        budget.deposit(clock())
    clock.advance(12.0)
    assert not budget.try_withdraw(clock())


def test_fractions_of_several_seconds_add_up() -> None:
    clock = ManualClock()
    budget = RetryBudget(RetryBudgetSpec(retry_ratio=0.2, min_retries_per_second=0))
    for _ in range(3):
        budget.deposit(clock())
    clock.advance(1.0)
    for _ in range(2):
        budget.deposit(clock())
    assert budget.try_withdraw(clock())
    assert not budget.try_withdraw(clock())


def test_bound_holds_over_a_run_whatever_the_policy_asks() -> None:
    """A caller retrying every request 5 times: retries <= 0.2 * requests + 10 per second."""
    clock = ManualClock()
    budget = RetryBudget()
    requests = retries = 0
    for _ in range(3000):  # 30 s at 100 requests/s
        clock.advance(0.01)
        budget.deposit(clock())
        requests += 1
        for _ in range(5):
            if not budget.try_withdraw(clock()):
                break
            retries += 1
    assert retries <= 0.2 * requests + 10 * 30
    assert retries >= 0.9 * (0.2 * requests + 10 * 30) - 100  # and the budget is actually usable


def test_spec_checks() -> None:
    with pytest.raises(ValueError):
        RetryBudgetSpec(ttl=0)
