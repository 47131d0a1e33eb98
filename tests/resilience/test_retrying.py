"""Retry decisions: conditions, limits, replayability and backoff."""

from __future__ import annotations

import pytest

from proxy.resilience.retrying import (
    DEFAULT_RETRY_POLICY,
    RETRY_BUFFER_BYTES,
    Failure,
    RetryPolicy,
)


def test_default_retries_only_connect_failures_once() -> None:
    policy = DEFAULT_RETRY_POLICY
    assert policy.should_retry(Failure.CONNECT, retries_done=0)
    assert not policy.should_retry(Failure.CONNECT, retries_done=1)
    assert not policy.should_retry(Failure.RESET, retries_done=0)
    assert not policy.should_retry(503, retries_done=0)


@pytest.mark.parametrize(
    ("retry_on", "outcome", "expected"),
    [
        ({"5xx"}, 500, True),
        ({"5xx"}, 503, True),
        ({"5xx"}, 404, False),
        ({"5xx"}, Failure.RESET, True),
        ({"5xx"}, Failure.CONNECT, True),
        ({"gateway-error"}, 502, True),
        ({"gateway-error"}, 504, True),
        ({"gateway-error"}, 500, False),
        ({"reset"}, Failure.RESET, True),
        ({"reset"}, 503, False),
        ({"connect-failure"}, Failure.RESET, False),
        ({"retriable-status-codes"}, 409, True),
        ({"retriable-status-codes"}, 410, False),
    ],
)
def test_conditions(retry_on: set[str], outcome: int | Failure, expected: bool) -> None:
    policy = RetryPolicy(retry_on=frozenset(retry_on), status_codes=frozenset({409}), max_retries=2)
    assert policy.should_retry(outcome, retries_done=0) is expected


def test_max_retries_bounds_attempts() -> None:
    policy = RetryPolicy(retry_on=frozenset({"5xx"}), max_retries=3)
    attempts = 1
    while policy.should_retry(503, retries_done=attempts - 1):
        attempts += 1
        assert attempts < 100
    assert attempts == 4


def test_only_idempotent_methods_unless_the_policy_says_otherwise() -> None:
    policy = RetryPolicy(retry_on=frozenset({"5xx"}), max_retries=2)
    assert policy.replayable(b"GET", body_bytes=0)
    assert policy.replayable(b"PUT", body_bytes=10)
    assert not policy.replayable(b"POST", body_bytes=0)
    assert not policy.replayable(b"PATCH", body_bytes=0)
    permissive = RetryPolicy(retry_on=frozenset({"5xx"}), max_retries=2, retry_non_idempotent=True)
    assert permissive.replayable(b"POST", body_bytes=10)


def test_body_must_fit_the_retry_buffer() -> None:
    policy = RetryPolicy(retry_on=frozenset({"5xx"}), max_retries=2)
    assert policy.replayable(b"PUT", body_bytes=RETRY_BUFFER_BYTES)
    assert not policy.replayable(b"PUT", body_bytes=RETRY_BUFFER_BYTES + 1)
    assert policy.replayable(b"PUT", body_bytes=None)  # chunked: asked again as it arrives


def test_disabled_policy_never_replays() -> None:
    assert not RetryPolicy(max_retries=0).replayable(b"GET", body_bytes=0)


def test_backoff_grows_exponentially_to_the_cap_with_full_jitter() -> None:
    policy = RetryPolicy(retry_on=frozenset({"5xx"}), max_retries=10, backoff_base=0.025, backoff_max=0.25)
    top = [policy.backoff(n, lambda: 1.0) for n in range(6)]
    assert top == pytest.approx([0.025, 0.05, 0.1, 0.2, 0.25, 0.25])
    assert policy.backoff(3, lambda: 0.0) == 0.0
    assert policy.backoff(3, lambda: 0.5) == pytest.approx(0.1)


def test_bad_policies_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="unknown retry condition"):
        RetryPolicy(retry_on=frozenset({"sometimes"}))
    with pytest.raises(ValueError, match="backoff"):
        RetryPolicy(backoff_base=1.0, backoff_max=0.5)
