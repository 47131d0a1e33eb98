"""UpstreamTrafficPolicy and RateLimitPolicy (policy.smi-mesh.io v1alpha1) -> hub objects.

The schema checks shapes; these builders check what a schema cannot: durations, the
``retryOn`` tokens, ranges that must be ordered, duplicate match names, and that a policy
says something.  Every problem names its field path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smi.checking.checks import dns_label_problem, dns_subdomain_problem
from smi.model._durations import DurationError, format_ms, parse_duration_ms
from smi.model.meta import ObjectMeta
from smi.model.parsing._reporting import Report
from smi.model.parsing._shapes import mapping, sequence, text, whole
from smi.model.policy import (
    ClientRef,
    ConnectionSettings,
    HealthCheck,
    OutlierDetection,
    PolicyTarget,
    RateLimitOverride,
    RateLimitPolicy,
    RetryBudget,
    RetryPolicy,
    RoutePolicy,
    Timeouts,
    UpstreamTrafficPolicy,
)

RETRY_CONDITIONS = ("5xx", "gateway-error", "connect-failure", "reset")
GRPC_CONDITIONS = {  # Envoy's retry_on names for gRPC statuses (Linkerd's retry.linkerd.io/grpc too)
    "cancelled": 1,
    "deadline-exceeded": 4,
    "resource-exhausted": 8,
    "internal": 13,
    "unavailable": 14,
}
MAX_STATUS_CODES = 100


def build_upstream(
    raw: Mapping[str, Any], *, version: str, meta: ObjectMeta, preserved: dict[str, Any], report: Report
) -> UpstreamTrafficPolicy:
    spec = mapping(raw.get("spec"))
    target = _target(spec, report)
    timeouts = _timeouts(spec.get("timeouts"), "spec.timeouts", report)
    retry = _retry(spec.get("retryPolicy"), "spec.retryPolicy", report)
    routes = _routes(sequence(spec.get("httpRoutes")), report)
    policy = UpstreamTrafficPolicy(
        meta=meta,
        target=target,
        timeouts=timeouts,
        retry_policy=retry,
        retry_budget=_budget(spec.get("retryBudget"), report),
        connection_settings=_connections(spec.get("connectionSettings"), report),
        outlier_detection=_outliers(spec.get("outlierDetection"), report),
        health_check=_health(spec.get("healthCheck"), report),
        http_routes=routes,
        api_version=f"{UpstreamTrafficPolicy.GROUP}/{version}",
    )
    if retry is not None and timeouts is not None:
        _per_try_within(retry, timeouts, "spec.retryPolicy.perTryTimeout", report)
    if not any((timeouts, retry, policy.retry_budget, policy.connection_settings, policy.outlier_detection)) and not (
        policy.health_check or routes
    ):
        report.warning("spec", "the policy sets nothing besides targetRef, so the mesh defaults apply unchanged")
    return policy


def build_rate_limit(
    raw: Mapping[str, Any], *, version: str, meta: ObjectMeta, preserved: dict[str, Any], report: Report
) -> RateLimitPolicy:
    spec = mapping(raw.get("spec"))
    target = _target(spec, report)
    total = whole(mapping(spec.get("total")).get("requestsPerSecond"))
    identity = whole(mapping(spec.get("identity")).get("requestsPerSecond"))
    overrides: list[RateLimitOverride] = []
    seen: dict[tuple[str, str], str] = {}
    for i, item in enumerate(sequence(spec.get("overrides"))):
        rps = whole(mapping(item).get("requestsPerSecond"))
        refs: list[ClientRef] = []
        for j, ref_raw in enumerate(sequence(mapping(item).get("clientRefs"))):
            ref = mapping(ref_raw)
            path = f"spec.overrides[{i}].clientRefs[{j}]"
            name = text(ref.get("name"))
            namespace = text(ref.get("namespace")) or meta.namespace
            if name is None:
                continue
            report.check(f"{path}.name", dns_subdomain_problem(name, what="ServiceAccount name"))
            key = (namespace, name)
            if key in seen:
                report.error(f"{path}", f"ServiceAccount {namespace}/{name} is already named by {seen[key]}")
            seen.setdefault(key, path)
            refs.append(ClientRef(name=name, namespace=namespace))
        if rps is not None and refs:
            overrides.append(RateLimitOverride(requests_per_second=rps, client_refs=tuple(refs)))
    tcp = whole(mapping(spec.get("tcp")).get("connectionsPerSecond"))
    if total is not None and identity is not None and identity > total:
        report.warning(
            "spec.identity.requestsPerSecond",
            f"is higher than spec.total.requestsPerSecond ({identity} > {total}), so the total limits every caller",
        )
    if total is None and identity is None and not overrides and tcp is None:
        report.warning("spec", "the policy sets no rate (total, identity, overrides or tcp), so nothing is limited")
    return RateLimitPolicy(
        meta=meta,
        target=target,
        total_rps=total,
        identity_rps=identity,
        overrides=tuple(overrides),
        connections_per_second=tcp,
        api_version=f"{RateLimitPolicy.GROUP}/{version}",
    )


def _target(spec: Mapping[str, Any], report: Report) -> PolicyTarget:
    ref = mapping(spec.get("targetRef"))
    name = text(ref.get("name"))
    if name is not None:
        report.check("spec.targetRef.name", dns_label_problem(name, what="service name"))
    group = text(ref.get("group"))
    if group not in (None, "", "core"):
        report.error("spec.targetRef.group", f"must be empty or 'core' (a Service), got {group!r}")
    return PolicyTarget(name=name or "", port=whole(ref.get("port")))


def _duration(value: Any, path: str, report: Report) -> int | None:
    raw = text(value)
    if raw is None:
        return None
    try:
        ms = parse_duration_ms(raw)
    except DurationError as exc:
        report.error(path, str(exc))
        return None
    if ms == 0:
        report.error(path, "must be longer than 0")
        return None
    return ms


def _timeouts(value: Any, path: str, report: Report) -> Timeouts | None:
    if not isinstance(value, Mapping):
        return None
    return Timeouts(
        request_ms=_duration(value.get("request"), f"{path}.request", report),
        idle_ms=_duration(value.get("idle"), f"{path}.idle", report),
    )


def _retry(value: Any, path: str, report: Report) -> RetryPolicy | None:
    if not isinstance(value, Mapping):
        return None
    conditions, codes, grpc_codes = _retry_on(text(value.get("retryOn")) or "", f"{path}.retryOn", report)
    grpc_codes |= _grpc_codes(value.get("grpcStatusCodes"), f"{path}.grpcStatusCodes", report)
    base = _duration(value.get("retryBackoffBaseInterval"), f"{path}.retryBackoffBaseInterval", report)
    top = _duration(value.get("retryBackoffMaxInterval"), f"{path}.retryBackoffMaxInterval", report)
    if base is not None and top is not None and top < base:
        report.error(
            f"{path}.retryBackoffMaxInterval",
            f"must not be shorter than retryBackoffBaseInterval ({format_ms(top)} < {format_ms(base)})",
        )
    non_idempotent = value.get("retryNonIdempotent") is True
    return RetryPolicy(
        retry_on=conditions,
        status_codes=codes,
        grpc_status_codes=tuple(sorted(grpc_codes)),
        num_retries=whole(value.get("numRetries")),
        per_try_timeout_ms=_duration(value.get("perTryTimeout"), f"{path}.perTryTimeout", report),
        backoff_base_ms=base,
        backoff_max_ms=top,
        retry_non_idempotent=non_idempotent,
    )


def _retry_on(value: str, path: str, report: Report) -> tuple[tuple[str, ...], tuple[int, ...], set[int]]:
    conditions: list[str] = []
    codes: set[int] = set()
    grpc_codes: set[int] = set()
    for token in (t for t in value.split(",") if t):
        if token in RETRY_CONDITIONS:
            if token not in conditions:
                conditions.append(token)
            continue
        if token in GRPC_CONDITIONS:
            grpc_codes.add(GRPC_CONDITIONS[token])
            continue
        low, _, high = token.partition("-")
        if low.isdigit() and (not high or high.isdigit()):
            first, last = int(low), int(high or low)
            if not (100 <= first <= last <= 599):
                report.error(path, f"{token!r}: a status code or range must lie in 100-599, low to high")
                continue
            codes.update(range(first, last + 1))
            continue
        known = ", ".join((*RETRY_CONDITIONS, *GRPC_CONDITIONS))
        report.error(path, f"unknown retry condition {token!r}; known: {known}, or status codes like 429")
    if len(codes) > MAX_STATUS_CODES:
        report.error(path, f"lists {len(codes)} status codes; at most {MAX_STATUS_CODES}")
    return tuple(conditions), tuple(sorted(codes)), grpc_codes


def _grpc_codes(value: Any, path: str, report: Report) -> set[int]:
    """``grpcStatusCodes``: numeric gRPC statuses, 1-16 (0 is OK: never a failure to retry)."""
    if value is None:
        return set()
    if not isinstance(value, list):
        report.error(path, "must be a list of gRPC status codes such as [14]")
        return set()
    codes: set[int] = set()
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= 16:
            report.error(f"{path}[{i}]", f"{item!r} is not a gRPC status code from 1 to 16")
            continue
        codes.add(item)
    return codes


def _per_try_within(retry: RetryPolicy, timeouts: Timeouts, path: str, report: Report) -> None:
    per_try, request = retry.per_try_timeout_ms, timeouts.request_ms
    if per_try is not None and request is not None and per_try > request:
        report.warning(
            path,
            f"is longer than the request timeout ({format_ms(per_try)} > {format_ms(request)}), "
            "so no retry can ever start",
        )


def _budget(value: Any, report: Report) -> RetryBudget | None:
    if not isinstance(value, Mapping):
        return None
    ratio = value.get("retryRatio")
    return RetryBudget(
        retry_ratio=float(ratio) if isinstance(ratio, int | float) and not isinstance(ratio, bool) else None,
        min_retries_per_second=whole(value.get("minRetriesPerSecond")),
        ttl_ms=_duration(value.get("ttl"), "spec.retryBudget.ttl", report),
    )


def _connections(value: Any, report: Report) -> ConnectionSettings | None:
    if not isinstance(value, Mapping):
        return None
    tcp, http = mapping(value.get("tcp")), mapping(value.get("http"))
    return ConnectionSettings(
        max_connections=whole(tcp.get("maxConnections")),
        connect_timeout_ms=_duration(tcp.get("connectTimeout"), "spec.connectionSettings.tcp.connectTimeout", report),
        max_requests=whole(http.get("maxRequests")),
        max_pending_requests=whole(http.get("maxPendingRequests")),
        max_retries=whole(http.get("maxRetries")),
    )


def _outliers(value: Any, report: Report) -> OutlierDetection | None:
    if not isinstance(value, Mapping):
        return None
    path = "spec.outlierDetection"
    base = _duration(value.get("baseEjectionTime"), f"{path}.baseEjectionTime", report)
    top = _duration(value.get("maxEjectionTime"), f"{path}.maxEjectionTime", report)
    if base is not None and top is not None and top < base:
        report.error(
            f"{path}.maxEjectionTime",
            f"must not be shorter than baseEjectionTime ({format_ms(top)} < {format_ms(base)})",
        )
    return OutlierDetection(
        enabled=value.get("enabled") is not False,
        consecutive_failures=whole(value.get("consecutiveFailures")),
        base_ejection_time_ms=base,
        max_ejection_time_ms=top,
        max_ejection_percent=whole(value.get("maxEjectionPercent")),
    )


def _health(value: Any, report: Report) -> HealthCheck | None:
    if not isinstance(value, Mapping):
        return None
    path = "spec.healthCheck"
    has_http, has_tcp = isinstance(value.get("http"), Mapping), isinstance(value.get("tcp"), Mapping)
    if has_http == has_tcp:
        report.error(path, "must set exactly one of http or tcp")
    interval = _duration(value.get("interval"), f"{path}.interval", report)
    timeout = _duration(value.get("timeout"), f"{path}.timeout", report)
    if interval is not None and timeout is not None and timeout > interval:
        report.warning(f"{path}.timeout", "is longer than the interval, so probes of one endpoint overlap")
    return HealthCheck(
        kind="tcp" if has_tcp and not has_http else "http",
        path=text(mapping(value.get("http")).get("path")) or "/",
        interval_ms=interval,
        timeout_ms=timeout,
        healthy_threshold=whole(value.get("healthyThreshold")),
        unhealthy_threshold=whole(value.get("unhealthyThreshold")),
    )


def _routes(items: list[Any], report: Report) -> tuple[RoutePolicy, ...]:
    routes: list[RoutePolicy] = []
    seen: dict[tuple[str, str], str] = {}
    for i, item in enumerate(items):
        path = f"spec.httpRoutes[{i}]"
        raw = mapping(item)
        group = text(raw.get("httpRouteGroup"))
        if group is None:
            continue
        report.check(f"{path}.httpRouteGroup", dns_subdomain_problem(group, what="HTTPRouteGroup name"))
        matches = tuple(m for m in sequence(raw.get("matches")) if isinstance(m, str))
        for j, match in enumerate(matches or ("*",)):
            key = (group, match)
            if key in seen:
                report.error(
                    f"{path}.matches[{j}]" if matches else path, f"{group}/{match} is already set by {seen[key]}"
                )
            seen.setdefault(key, path)
        timeouts = _timeouts(raw.get("timeouts"), f"{path}.timeouts", report)
        retry = _retry(raw.get("retryPolicy"), f"{path}.retryPolicy", report)
        if timeouts is None and retry is None:
            report.warning(path, "sets neither timeouts nor retryPolicy, so it changes nothing")
        if retry is not None and timeouts is not None:
            _per_try_within(retry, timeouts, f"{path}.retryPolicy.perTryTimeout", report)
        routes.append(RoutePolicy(http_route_group=group, matches=matches, timeouts=timeouts, retry_policy=retry))
    return tuple(routes)
