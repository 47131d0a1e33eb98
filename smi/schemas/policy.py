"""JSON Schemas of the mesh's own group, policy.smi-mesh.io v1alpha1 (see :mod:`smi.model.policy`)."""

from __future__ import annotations

from smi.schemas._builders import Schema, array, boolean, closed, integer, port, string, top_level

GROUP = "policy.smi-mesh.io"
VERSIONS = ("v1alpha1",)

DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
RETRY_ON_PATTERN = r"^[0-9a-z-]+(,[0-9a-z-]+)*$"


def duration(description: str) -> Schema:
    return string(
        description,
        pattern=DURATION_PATTERN,
        **{"x-smi-message": "must be a duration such as '250ms', '1.5s', '1m' or '1h30m'"},
    )


def number(description: str, **extra: object) -> Schema:
    node: Schema = {"type": "number", **extra}
    if description:
        node["description"] = description
    return node


def _target() -> Schema:
    return closed(
        {
            "group": string("Empty or 'core'."),
            "kind": string("Only Service.", enum=["Service"], **{"x-smi-message": "must be 'Service'"}),
            "name": string("A Service in the policy's namespace."),
            "port": port("One port of the Service; every port when absent."),
        },
        required=("kind", "name"),
        description="What the policy applies to.",
    )


def _timeouts() -> Schema:
    return closed(
        {
            "request": duration("The whole request, retries included (Linkerd timeout.linkerd.io/request); 504."),
            "idle": duration("Close an upstream connection idle this long (Linkerd timeout.linkerd.io/idle)."),
        }
    )


def _retry_policy() -> Schema:
    return closed(
        {
            "retryOn": string(
                "Comma-separated conditions (5xx, gateway-error, connect-failure, reset), status codes or "
                "ranges (429, 500-504), as OSM's retryOn and Linkerd's retry.linkerd.io/http, and gRPC statuses "
                "(cancelled, deadline-exceeded, internal, resource-exhausted, unavailable), as Envoy's retry_on "
                "and Linkerd's retry.linkerd.io/grpc.",
                pattern=RETRY_ON_PATTERN,
                **{"x-smi-message": "must be a comma-separated list such as '5xx,429' (no spaces)"},
            ),
            "numRetries": integer(
                "Retries after the first attempt (Linkerd retry.linkerd.io/limit).", minimum=0, maximum=10
            ),
            "perTryTimeout": duration("Each attempt's timeout (Linkerd retry.linkerd.io/timeout)."),
            "retryBackoffBaseInterval": duration("First backoff; doubles per retry, full jitter."),
            "retryBackoffMaxInterval": duration("Largest backoff."),
            "retryNonIdempotent": boolean("Also retry POST, PATCH and other non-idempotent requests."),
            "grpcStatusCodes": array(
                integer(minimum=1, maximum=16, **{"x-smi-message": "must be a gRPC status code from 1 to 16"}),
                "More gRPC status codes to retry (numeric, 1-16), for a trailers-only gRPC answer.",
                maxItems=16,
            ),
        },
        required=("retryOn",),
    )


def _spec_upstream() -> Schema:
    retry_budget = closed(
        {
            "retryRatio": number("Retries may add this share of the requests (Linkerd: 0.2).", minimum=0, maximum=1000),
            "minRetriesPerSecond": integer("Retries always allowed per second (Linkerd: 10).", minimum=0),
            "ttl": duration("How long a request's deposit counts (Linkerd: 10s)."),
        }
    )
    connection_settings = closed(
        {
            "tcp": closed(
                {
                    "maxConnections": integer("Circuit breaker: connections to the destination.", minimum=1),
                    "connectTimeout": duration("Connect timeout per attempt."),
                }
            ),
            "http": closed(
                {
                    "maxRequests": integer("Circuit breaker: requests in flight.", minimum=1),
                    "maxPendingRequests": integer("Circuit breaker: requests waiting for a connection.", minimum=1),
                    "maxRetries": integer("Circuit breaker: retries in flight.", minimum=0),
                }
            ),
        }
    )
    outlier = closed(
        {
            "enabled": boolean("On by default."),
            "consecutiveFailures": integer("Failures in a row that eject an endpoint (7).", minimum=1),
            "baseEjectionTime": duration("First penalty (1s); doubles per ejection in a row."),
            "maxEjectionTime": duration("Largest penalty (1m)."),
            "maxEjectionPercent": integer(
                "Share of endpoints that may be ejected at once (50).", minimum=0, maximum=100
            ),
        }
    )
    health = closed(
        {
            "http": closed({"path": string("Path of a GET that must answer 2xx.", pattern="^/")}),
            "tcp": closed({}, description="A TCP connect must succeed."),
            "interval": duration("Time between probes of one endpoint (10s)."),
            "timeout": duration("Time a probe may take (1s)."),
            "healthyThreshold": integer("Successes in a row that bring an endpoint back (2).", minimum=1),
            "unhealthyThreshold": integer("Failures in a row that take it out (3).", minimum=1),
        }
    )
    route = closed(
        {
            "httpRouteGroup": string("An HTTPRouteGroup in the policy's namespace."),
            "matches": array(string(), "Names of its matches (every match when absent)."),
            "timeouts": _timeouts(),
            "retryPolicy": _retry_policy(),
        },
        required=("httpRouteGroup",),
    )
    return closed(
        {
            "targetRef": _target(),
            "timeouts": _timeouts(),
            "retryPolicy": _retry_policy(),
            "retryBudget": retry_budget,
            "connectionSettings": connection_settings,
            "outlierDetection": outlier,
            "healthCheck": health,
            "httpRoutes": array(route, "Per-route timeouts and retries (override the service's)."),
        },
        required=("targetRef",),
    )


def _spec_rate_limit() -> Schema:
    rate = closed({"requestsPerSecond": integer("Requests per second.", minimum=1)}, required=("requestsPerSecond",))
    client = closed(
        {
            "kind": string(enum=["ServiceAccount"], **{"x-smi-message": "must be 'ServiceAccount'"}),
            "name": string(),
            "namespace": string("Defaults to the policy's namespace."),
        },
        required=("kind", "name"),
    )
    override = closed(
        {
            "requestsPerSecond": integer("Requests per second for these callers.", minimum=1),
            "clientRefs": array(client, "The callers (ServiceAccounts).", minItems=1),
        },
        required=("requestsPerSecond", "clientRefs"),
    )
    return closed(
        {
            "targetRef": _target(),
            "total": _described(rate, "All callers together."),
            "identity": _described(rate, "Each caller identity on its own."),
            "overrides": array(override, "Named callers with their own rate."),
            "tcp": closed(
                {"connectionsPerSecond": integer("New connections per second (opaque TCP ports).", minimum=1)},
                required=("connectionsPerSecond",),
            ),
        },
        required=("targetRef",),
    )


def _described(node: Schema, description: str) -> Schema:
    return {**node, "description": description}


def upstream_traffic_policy(version: str) -> Schema:
    return top_level(
        api_version=f"{GROUP}/{version}",
        kind="UpstreamTrafficPolicy",
        fields={"spec": _spec_upstream()},
        required=("spec",),
        description="Timeouts, retries, circuit breaking, outlier detection and health checks for calls to a Service.",
    )


def rate_limit_policy(version: str) -> Schema:
    return top_level(
        api_version=f"{GROUP}/{version}",
        kind="RateLimitPolicy",
        fields={"spec": _spec_rate_limit()},
        required=("spec",),
        description="Local rate limits at a Service's inbound sidecars: 429 with Retry-After over the rate.",
    )
