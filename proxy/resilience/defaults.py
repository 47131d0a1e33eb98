"""The values in force when no UpstreamTrafficPolicy / RateLimitPolicy says otherwise.

docs/resilience.md shows the same table; a test checks the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from proxy.resilience.breaking import CircuitLimits
from proxy.resilience.budgets import RetryBudgetSpec
from proxy.resilience.outliers import OutlierSpec
from proxy.resilience.retrying import DEFAULT_RETRY_POLICY, RetryPolicy


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeouts:
    """Seconds; 0 = none.  ``request`` bounds the whole exchange, retries included."""

    connect: float = 1.0
    request: float = 15.0
    per_try: float = 0.0
    idle: float = 300.0


DEFAULT_TIMEOUTS = Timeouts()
DEFAULT_CIRCUIT = CircuitLimits()
DEFAULT_BUDGET = RetryBudgetSpec()
DEFAULT_OUTLIERS = OutlierSpec()
DEFAULT_RETRIES: RetryPolicy = DEFAULT_RETRY_POLICY

DEFAULTS_TABLE: tuple[tuple[str, str], ...] = (
    ("connect timeout", "1s"),
    ("request timeout (whole request, retries included)", "15s"),
    ("per-try timeout", "none (bounded by the request timeout)"),
    (
        "idle timeout (no byte either way in an exchange; `timeouts.idle`)",
        "300s; pooled upstream connections: the sidecar's own 60s unless a policy sets it",
    ),
    ("retries", "1, only on connect-failure, only idempotent methods, body <= 64 KiB"),
    ("retry backoff", "25ms doubling to 250ms, full jitter"),
    ("retry budget", "ratio 0.2, min 10 retries/s, ttl 10s"),
    ("circuit breaker", "1024 connections, 1024 pending, 1024 requests, 3 retries"),
    ("outlier detection", "on: 7 consecutive failures, 1s doubling to 60s (+50% jitter), max 50% ejected"),
    ("active health checks", "off"),
    ("rate limits", "off"),
)
