"""The resilience part of the ProxyConfig contract (policy.smi-mesh.io, docs/resilience.md).

``Cluster.resilience`` (caller side) and ``InboundConfig.rate_limits`` (destination side).
Durations are whole milliseconds.  A cluster without ``resilience`` gets the defaults
(``ClusterResilience()``); every field here defaults to the mesh default, so a policy only
changes what it states and an old proxy ignores fields it does not know.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from smi.proxyconfig.codec_marks import OMIT_DEFAULT
from smi.proxyconfig.types_base import HttpMatch


@dataclass(frozen=True, slots=True)
class RetryConfig:
    retry_on: tuple[str, ...] = ("connect-failure",)  # 5xx, gateway-error, connect-failure, reset
    status_codes: tuple[int, ...] = ()
    max_retries: int = 1
    per_try_timeout_ms: int = 0  # 0: bounded by the request timeout only
    backoff_base_ms: int = 25
    backoff_max_ms: int = 250
    retry_non_idempotent: bool = False
    # gRPC statuses retried when a gRPC answer is trailers-only (grpc-status in the response head)
    grpc_status_codes: tuple[int, ...] = field(default=(), metadata={OMIT_DEFAULT: True})


@dataclass(frozen=True, slots=True)
class RetryBudgetConfig:
    retry_ratio: float = 0.2
    min_retries_per_second: int = 10
    ttl_ms: int = 10_000


@dataclass(frozen=True, slots=True)
class CircuitConfig:
    max_connections: int = 1024
    max_pending: int = 1024
    max_requests: int = 1024
    max_retries: int = 3


@dataclass(frozen=True, slots=True)
class OutlierConfig:
    enabled: bool = True
    consecutive_failures: int = 7
    base_ejection_ms: int = 1000
    max_ejection_ms: int = 60_000
    max_ejection_percent: int = 50


@dataclass(frozen=True, slots=True)
class HealthCheckConfig:
    kind: str = "http"  # http | tcp
    path: str = "/"
    interval_ms: int = 10_000
    timeout_ms: int = 1000
    healthy_threshold: int = 2
    unhealthy_threshold: int = 3


@dataclass(frozen=True, slots=True)
class RouteResilience:
    """Per-route overrides: requests matching one of ``matches`` (ORed) use these."""

    name: str  # <ns>/<policy>/<route group>
    matches: tuple[HttpMatch, ...]
    request_timeout_ms: int = 0  # 0: the cluster's
    retry: RetryConfig | None = None  # None: the cluster's


@dataclass(frozen=True, slots=True)
class ClusterResilience:
    policy: str = ""  # <ns>/<UpstreamTrafficPolicy name>, "" for the defaults
    request_timeout_ms: int = 0  # 0: the mesh's (the compile writes it into Cluster.request_timeout_ms)
    connect_timeout_ms: int = 0  # 0: the mesh's (into Cluster.connect_timeout_ms)
    # timeouts.idle: an exchange with no byte either way this long gets 504 (reset once answered) and a
    # pooled upstream connection idle this long is closed; 0: not set (exchanges 300 s, the pool its own)
    idle_timeout_ms: int = 0
    retry: RetryConfig = field(default_factory=RetryConfig)
    budget: RetryBudgetConfig = field(default_factory=RetryBudgetConfig)
    circuit: CircuitConfig = field(default_factory=CircuitConfig)
    outliers: OutlierConfig = field(default_factory=OutlierConfig)
    health: HealthCheckConfig | None = None
    routes: tuple[RouteResilience, ...] = ()


@dataclass(frozen=True, slots=True)
class InboundRateLimit:
    """One RateLimitPolicy as the destination's sidecar applies it, on ``ports`` (container ports; empty: all)."""

    policy: str  # <ns>/<RateLimitPolicy name>
    ports: tuple[int, ...] = ()
    total_rps: int = 0  # 0: no total limit
    identity_rps: int = 0  # 0: no per-caller limit
    overrides: tuple[tuple[str, int], ...] = ()  # (SPIFFE id, rps)
    connections_per_second: int = 0
