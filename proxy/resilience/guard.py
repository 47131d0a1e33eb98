"""``DestinationGuard``: every resilience decision object of one destination, built from the config.

The sidecar keeps one guard per cluster (a service port) in its ``ConfigRuntime``; the
router hands it to each request in its ``Target``, and the HTTP core asks it at the points
where an attempt is made, answered or abandoned.  A config swap builds new guards and carries
over the state of destinations that stay (budget deposits, ejections, health, in-flight
counts), so an edited policy applies at once and the limits hold across the swap.

``from_config(None, ...)`` is the mesh defaults (docs/resilience.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from proxy.resilience.breaking import CircuitBreaker, CircuitLimits
from proxy.resilience.budgets import RetryBudget, RetryBudgetSpec
from proxy.resilience.clocks import MONOTONIC, RANDOM, Clock, Uniform
from proxy.resilience.defaults import DEFAULT_TIMEOUTS
from proxy.resilience.health import HealthChecker, HealthCheckSpec
from proxy.resilience.outliers import OutlierDetector, OutlierSpec, key_pairs
from proxy.resilience.retrying import DEFAULT_RETRY_POLICY, RetryPolicy
from smi.proxyconfig import Endpoint
from smi.proxyconfig.resilience import ClusterResilience, RetryConfig, RouteResilience

if TYPE_CHECKING:
    from proxy.compiled import CompiledMatch


def retry_policy(config: RetryConfig) -> RetryPolicy:
    return RetryPolicy(
        retry_on=frozenset(config.retry_on),
        status_codes=frozenset(config.status_codes),
        max_retries=config.max_retries,
        per_try_timeout=config.per_try_timeout_ms / 1000,
        backoff_base=config.backoff_base_ms / 1000,
        backoff_max=max(config.backoff_base_ms, config.backoff_max_ms) / 1000,
        retry_non_idempotent=config.retry_non_idempotent,
        grpc_statuses=frozenset(config.grpc_status_codes),
    )


def _endpoint_key(ep: Endpoint) -> tuple[str, int, int]:
    return (ep.address, ep.port, ep.proxy_port)


@dataclass(frozen=True, slots=True)
class RouteOverride:
    """``httpRoutes[]`` of a policy: requests matching ``matches`` use this retry policy and timeout."""

    name: str
    matches: tuple[CompiledMatch, ...]  # matched by the core with proxy.compiled.any_match
    retry: RetryPolicy
    request_timeout: float  # 0: the cluster's

    @classmethod
    def build(cls, route: RouteResilience, default: RetryPolicy) -> RouteOverride:
        from proxy.compiled import compile_match  # the proxy's own match semantics (late: no cycle)

        matches = []
        for match in route.matches:
            try:
                matches.append(compile_match(match))
            except ValueError:
                continue  # a bad regex narrows the route (as for every match)
        return cls(
            name=route.name,
            matches=tuple(matches),
            retry=retry_policy(route.retry) if route.retry is not None else default,
            request_timeout=route.request_timeout_ms / 1000,
        )


class DestinationGuard:
    """Retry policy, retry budget, circuit breaker, outlier detector and health of one cluster."""

    __slots__ = (
        "breaker",
        "budget",
        "endpoints",
        "health",
        "idle_timeout",
        "name",
        "outliers",
        "policy",
        "pool_idle_timeout",
        "retry",
        "routes",
        "uniform",
    )

    def __init__(
        self,
        name: str,
        endpoints: Sequence[Endpoint],
        config: ClusterResilience | None,
        *,
        clock: Clock = MONOTONIC,
        uniform: Uniform = RANDOM,
    ) -> None:
        res = config if config is not None else ClusterResilience()
        self.name = name
        self.policy = res.policy
        self.endpoints = tuple(endpoints)
        self.uniform = uniform
        self.retry = retry_policy(res.retry) if config is not None else DEFAULT_RETRY_POLICY
        # timeouts.idle: an exchange idle this long (no byte either way) ends; pooled connections close.
        # Not set: exchanges get the mesh default (300 s) and the pool keeps the sidecar's own (0 here).
        self.idle_timeout = (res.idle_timeout_ms / 1000) or DEFAULT_TIMEOUTS.idle
        self.pool_idle_timeout = res.idle_timeout_ms / 1000
        self.routes = tuple(RouteOverride.build(route, self.retry) for route in res.routes)
        b, c, o = res.budget, res.circuit, res.outliers
        self.budget = RetryBudget(
            RetryBudgetSpec(retry_ratio=b.retry_ratio, min_retries_per_second=b.min_retries_per_second,
                            ttl=max(1, b.ttl_ms) / 1000),
        )  # fmt: skip  # the core passes its clock's ``now`` to every call (sans-IO)
        self.breaker = CircuitBreaker(
            CircuitLimits(
                max_connections=c.max_connections,
                max_pending=c.max_pending,
                max_requests=c.max_requests,
                max_retries=c.max_retries,
            )
        )
        self.outliers: OutlierDetector[Endpoint] = OutlierDetector(
            self.endpoints,
            OutlierSpec(
                enabled=o.enabled,
                consecutive_failures=max(1, o.consecutive_failures),
                base_ejection=max(1, o.base_ejection_ms) / 1000,
                max_ejection=max(o.base_ejection_ms, o.max_ejection_ms, 1) / 1000,
                max_ejection_percent=min(100, max(0, o.max_ejection_percent)),
            ),
            clock=clock,
            uniform=uniform,
        )
        h = res.health
        self.health: HealthChecker[Endpoint] | None = None
        if h is not None:
            spec = HealthCheckSpec(
                kind=h.kind,
                path=h.path,
                interval=max(1, h.interval_ms) / 1000,
                timeout=max(1, h.timeout_ms) / 1000,
                healthy_threshold=max(1, h.healthy_threshold),
                unhealthy_threshold=max(1, h.unhealthy_threshold),
            )
            self.health = HealthChecker(self.endpoints, spec, clock=clock)

    def carry_from(self, old: DestinationGuard) -> None:
        """Keep the state of the same destination across a config swap (see the module docstring)."""
        if old.budget.spec == self.budget.spec:
            self.budget = old.budget
        # One breaker object across versions: requests in flight give their slots back to the
        # guard they started with, so the counters must be the very same; only the limits change.
        old.breaker.limits = self.breaker.limits
        self.breaker = old.breaker
        pairs = key_pairs(self.endpoints, old.endpoints, _endpoint_key)
        self.outliers.carry_from(old.outliers, pairs)
        if self.health is not None and old.health is not None and self.health.spec == old.health.spec:
            self.health.carry_from(old.health, pairs)


__all__ = ["DestinationGuard", "RouteOverride", "retry_policy"]
