"""Resilience as pure decision objects: the sidecar asks, they answer; they do no I/O.

Every object here takes its clock (a ``Callable[[], float]`` returning monotonic seconds)
and, where it draws jitter, its random source, so tests drive time by hand and never sleep.
None of them takes a lock: the proxy runs on one event loop thread.

================================  ===================================================================
module                            decides
================================  ===================================================================
:mod:`.retrying`                  whether a failed attempt may be repeated, and after which backoff
:mod:`.budgets`                   whether the destination can afford one more retry (ratio + reserve)
:mod:`.breaking`                  whether a new connection / request / retry exceeds a circuit limit
:mod:`.outliers`                  which endpoints are ejected after consecutive failures, and probes
:mod:`.health`                    which endpoints an active health check marks unhealthy, and when
                                  to probe next
:mod:`.ratelimits`                whether an inbound request or connection is over its rate (429)
:mod:`.defaults`                  the values in force when no policy says otherwise
================================  ===================================================================

The defaults a user gets without writing a policy (docs/resilience.md has the table):
timeouts on, outlier detection on, circuit-breaker limits on, retries only for connect
failures of idempotent requests, rate limits off.
"""

from proxy.resilience.breaking import CircuitBreaker, CircuitLimits
from proxy.resilience.budgets import RetryBudget, RetryBudgetSpec
from proxy.resilience.health import HealthChecker, HealthCheckSpec
from proxy.resilience.outliers import OutlierDetector, OutlierSpec
from proxy.resilience.ratelimits import LocalRateLimiter, RateLimitSpec, TokenBucket
from proxy.resilience.retrying import Failure, RetryPolicy

__all__ = [
    "CircuitBreaker",
    "CircuitLimits",
    "Failure",
    "HealthCheckSpec",
    "HealthChecker",
    "LocalRateLimiter",
    "OutlierDetector",
    "OutlierSpec",
    "RateLimitSpec",
    "RetryBudget",
    "RetryBudgetSpec",
    "RetryPolicy",
    "TokenBucket",
]
