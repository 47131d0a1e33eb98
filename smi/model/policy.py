"""The mesh's own policy group, ``policy.smi-mesh.io`` v1alpha1: resilience settings.

Two kinds, because they are enforced at opposite ends of a call and owned by different people:

* :class:`UpstreamTrafficPolicy` -- what a *caller's* sidecar does when it sends to a Service
  (timeouts, retries with their budget, circuit-breaker limits, outlier detection, active
  health checks; per route where ``http_routes`` says so).  Field names follow OSM's
  UpstreamTrafficSetting and Retry and Linkerd's ServiceProfile/annotations.
* :class:`RateLimitPolicy` -- what the *destination's* inbound sidecar admits (Linkerd's
  HTTPLocalRateLimitPolicy shape, plus TCP connections per second).

Durations are whole milliseconds here (``"1.5s"`` in a manifest is ``1500``); ``None`` means
"the mesh default" (docs/resilience.md), so a policy only states what it changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from smi.model.meta import ObjectMeta

GROUP = "policy.smi-mesh.io"
VERSIONS = ("v1alpha1",)


@dataclass(frozen=True, slots=True)
class PolicyTarget:
    """``spec.targetRef``: a Service in the policy's namespace, optionally one of its ports."""

    name: str
    kind: str = "Service"
    port: int | None = None


@dataclass(frozen=True, slots=True)
class Timeouts:
    request_ms: int | None = None  # the whole request, retries included (Linkerd timeout.linkerd.io/request)
    idle_ms: int | None = None  # an upstream connection idle this long is closed (timeout.linkerd.io/idle)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """OSM's ``retryPolicy`` with Linkerd's ``retry.linkerd.io/http`` token list in ``retry_on``."""

    retry_on: tuple[str, ...] = ()  # conditions: 5xx, gateway-error, connect-failure, reset
    status_codes: tuple[int, ...] = ()  # listed status codes and ranges, expanded
    grpc_status_codes: tuple[int, ...] = ()  # gRPC statuses (names in retryOn + grpcStatusCodes), sorted
    num_retries: int | None = None
    per_try_timeout_ms: int | None = None
    backoff_base_ms: int | None = None
    backoff_max_ms: int | None = None
    retry_non_idempotent: bool = False


@dataclass(frozen=True, slots=True)
class RetryBudget:
    """Linkerd's ServiceProfile ``retryBudget``."""

    retry_ratio: float | None = None
    min_retries_per_second: int | None = None
    ttl_ms: int | None = None


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """OSM's ``connectionSettings`` (tcp and http parts flattened)."""

    max_connections: int | None = None
    connect_timeout_ms: int | None = None
    max_requests: int | None = None
    max_pending_requests: int | None = None
    max_retries: int | None = None


@dataclass(frozen=True, slots=True)
class OutlierDetection:
    enabled: bool = True
    consecutive_failures: int | None = None
    base_ejection_time_ms: int | None = None
    max_ejection_time_ms: int | None = None
    max_ejection_percent: int | None = None


@dataclass(frozen=True, slots=True)
class HealthCheck:
    kind: str = "http"  # http | tcp
    path: str = "/"
    interval_ms: int | None = None
    timeout_ms: int | None = None
    healthy_threshold: int | None = None
    unhealthy_threshold: int | None = None


@dataclass(frozen=True, slots=True)
class RoutePolicy:
    """Per-route timeouts and retries: the named matches of one HTTPRouteGroup (all when empty)."""

    http_route_group: str
    matches: tuple[str, ...] = ()
    timeouts: Timeouts | None = None
    retry_policy: RetryPolicy | None = None


@dataclass(frozen=True, slots=True)
class UpstreamTrafficPolicy:
    KIND: ClassVar[str] = "UpstreamTrafficPolicy"
    GROUP: ClassVar[str] = GROUP
    VERSIONS: ClassVar[tuple[str, ...]] = VERSIONS
    API_VERSION: ClassVar[str] = f"{GROUP}/v1alpha1"  # one version: nothing to convert

    meta: ObjectMeta
    target: PolicyTarget
    timeouts: Timeouts | None = None
    retry_policy: RetryPolicy | None = None
    retry_budget: RetryBudget | None = None
    connection_settings: ConnectionSettings | None = None
    outlier_detection: OutlierDetection | None = None
    health_check: HealthCheck | None = None
    http_routes: tuple[RoutePolicy, ...] = ()
    api_version: str = f"{GROUP}/v1alpha1"


@dataclass(frozen=True, slots=True)
class ClientRef:
    """A caller identity: a ServiceAccount (namespace defaults to the policy's)."""

    name: str
    namespace: str
    kind: str = "ServiceAccount"


@dataclass(frozen=True, slots=True)
class RateLimitOverride:
    requests_per_second: int
    client_refs: tuple[ClientRef, ...]


@dataclass(frozen=True, slots=True)
class RateLimitPolicy:
    KIND: ClassVar[str] = "RateLimitPolicy"
    GROUP: ClassVar[str] = GROUP
    VERSIONS: ClassVar[tuple[str, ...]] = VERSIONS
    API_VERSION: ClassVar[str] = f"{GROUP}/v1alpha1"  # one version: nothing to convert

    meta: ObjectMeta
    target: PolicyTarget
    total_rps: int | None = None
    identity_rps: int | None = None
    overrides: tuple[RateLimitOverride, ...] = ()
    connections_per_second: int | None = None
    api_version: str = f"{GROUP}/v1alpha1"
