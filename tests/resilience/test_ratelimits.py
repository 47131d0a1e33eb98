"""Local rate limits: token buckets, per-identity buckets, overrides, Retry-After."""

from __future__ import annotations

from proxy.resilience.clocks import ManualClock
from proxy.resilience.ratelimits import LocalRateLimiter, RateLimitSpec, TokenBucket


def test_bucket_refills_at_rate_and_caps_at_burst() -> None:
    clock = ManualClock()
    bucket = TokenBucket(10, burst=2, clock=clock)
    assert bucket.take() and bucket.take()
    assert not bucket.take()
    assert bucket.wait_seconds() == 0.1
    clock.advance(10.0)
    assert bucket.take() and bucket.take()
    assert not bucket.take()


def test_three_times_the_limit_refuses_the_excess() -> None:
    clock = ManualClock()
    limiter = LocalRateLimiter(RateLimitSpec(total=100), clock=clock)
    refused = 0
    sent = 0
    for _ in range(3000):  # 10 s at 300 requests/s
        clock.advance(1 / 300)
        sent += 1
        if limiter.check_request("spiffe://x/ns/a/sa/b") is not None:
            refused += 1
    excess = sent - 100 * 10
    assert abs(refused - excess) <= 0.05 * excess
    assert limiter.limited == refused


def test_per_identity_and_overrides() -> None:
    clock = ManualClock()
    spec = RateLimitSpec(identity=1, overrides={"vip": 5})
    limiter = LocalRateLimiter(spec, clock=clock)
    assert limiter.check_request("a") is None
    assert limiter.check_request("a") == 1  # Retry-After: whole seconds, at least 1
    assert limiter.check_request("b") is None  # b has its own bucket
    allowed = sum(limiter.check_request("vip") is None for _ in range(10))
    assert allowed == 1  # burst = max(1, rate / 10)
    clock.advance(1.0)
    allowed = sum(limiter.check_request("vip") is None for _ in range(10))
    assert allowed == 1
    clock.advance(0.2)
    assert limiter.check_request("vip") is None


def test_caller_refusal_takes_nothing_from_the_total() -> None:
    clock = ManualClock()
    limiter = LocalRateLimiter(RateLimitSpec(total=1, identity=1), clock=clock)
    assert limiter.check_request("a") is None
    clock.advance(1.0)
    assert limiter.check_request("b") is None
    assert limiter.check_request("b") is not None
    clock.advance(1.0)
    assert limiter.check_request("a") is None


def test_connections_per_second() -> None:
    clock = ManualClock()
    limiter = LocalRateLimiter(RateLimitSpec(connections_per_second=10), clock=clock)
    assert limiter.check_connection()
    assert not limiter.check_connection()
    clock.advance(0.1)
    assert limiter.check_connection()
    assert LocalRateLimiter(RateLimitSpec(), clock=clock).check_connection()


def test_tokens_survive_a_config_swap_when_the_rate_is_unchanged() -> None:
    clock = ManualClock()
    old = LocalRateLimiter(RateLimitSpec(total=1), clock=clock)
    assert old.check_request("a") is None
    new = LocalRateLimiter(RateLimitSpec(total=1), clock=clock)
    new.carry_from(old)
    assert new.check_request("a") is not None
