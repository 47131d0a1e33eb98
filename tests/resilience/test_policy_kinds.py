"""The policy.smi-mesh.io kinds: parsing into hub objects, field-path errors, the CRDs."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from smi.crds import build_crd
from smi.model import POLICY_KINDS
from smi.model.parsing import check, parse
from smi.model.policy import RateLimitPolicy, UpstreamTrafficPolicy
from smi.schemas import SERVED


def upstream(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "policy.smi-mesh.io/v1alpha1",
        "kind": "UpstreamTrafficPolicy",
        "metadata": {"name": "bookstore", "namespace": "shop"},
        "spec": {"targetRef": {"kind": "Service", "name": "bookstore"}, **spec},
    }


def rate_limit(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "policy.smi-mesh.io/v1alpha1",
        "kind": "RateLimitPolicy",
        "metadata": {"name": "bookstore", "namespace": "shop"},
        "spec": {"targetRef": {"kind": "Service", "name": "bookstore"}, **spec},
    }


FULL_UPSTREAM = upstream(
    timeouts={"request": "10s", "idle": "5m"},
    retryPolicy={
        "retryOn": "5xx,429,500-502",
        "numRetries": 3,
        "perTryTimeout": "1.5s",
        "retryBackoffBaseInterval": "25ms",
        "retryBackoffMaxInterval": "250ms",
        "grpcStatusCodes": [10],
    },
    retryBudget={"retryRatio": 0.2, "minRetriesPerSecond": 10, "ttl": "10s"},
    connectionSettings={
        "tcp": {"maxConnections": 100, "connectTimeout": "1s"},
        "http": {"maxRequests": 10, "maxPendingRequests": 5, "maxRetries": 3},
    },
    outlierDetection={"consecutiveFailures": 5, "baseEjectionTime": "1s", "maxEjectionTime": "1m"},
    healthCheck={"http": {"path": "/health"}, "interval": "2s", "timeout": "500ms", "unhealthyThreshold": 2},
    httpRoutes=[{"httpRouteGroup": "routes", "matches": ["buy"], "timeouts": {"request": "1s"}}],
)
FULL_RATE_LIMIT = rate_limit(
    total={"requestsPerSecond": 100},
    identity={"requestsPerSecond": 20},
    overrides=[{"requestsPerSecond": 50, "clientRefs": [{"kind": "ServiceAccount", "name": "bookbuyer"}]}],
    tcp={"connectionsPerSecond": 30},
)


def test_upstream_policy_parses_into_milliseconds_and_tokens() -> None:
    obj = parse(FULL_UPSTREAM)
    assert isinstance(obj, UpstreamTrafficPolicy)
    assert obj.target.name == "bookstore" and obj.target.port is None
    assert obj.timeouts is not None and obj.timeouts.request_ms == 10_000 and obj.timeouts.idle_ms == 300_000
    retry = obj.retry_policy
    assert retry is not None
    assert retry.retry_on == ("5xx",)
    assert retry.status_codes == (429, 500, 501, 502)
    assert (retry.num_retries, retry.per_try_timeout_ms, retry.backoff_base_ms) == (3, 1500, 25)
    assert obj.connection_settings is not None and obj.connection_settings.max_requests == 10
    assert obj.outlier_detection is not None and obj.outlier_detection.max_ejection_time_ms == 60_000
    assert obj.health_check is not None and obj.health_check.path == "/health"
    assert obj.http_routes[0].matches == ("buy",)


def test_grpc_statuses_by_envoy_name_and_by_number() -> None:
    obj = parse(upstream(retryPolicy={"retryOn": "unavailable,5xx,deadline-exceeded", "grpcStatusCodes": [14, 2]}))
    assert isinstance(obj, UpstreamTrafficPolicy) and obj.retry_policy is not None
    assert obj.retry_policy.retry_on == ("5xx",)
    assert obj.retry_policy.grpc_status_codes == (2, 4, 14)


def test_rate_limit_policy_parses_overrides_with_the_policy_namespace() -> None:
    obj = parse(FULL_RATE_LIMIT)
    assert isinstance(obj, RateLimitPolicy)
    assert (obj.total_rps, obj.identity_rps, obj.connections_per_second) == (100, 20, 30)
    ref = obj.overrides[0].client_refs[0]
    assert (ref.namespace, ref.name) == ("shop", "bookbuyer")


@pytest.mark.parametrize(
    ("raw", "path", "reason"),
    [
        (upstream(timeouts={"request": "soon"}), "spec.timeouts.request", "must be a duration"),
        (upstream(timeouts={"request": "0s"}), "spec.timeouts.request", "longer than 0"),
        (upstream(retryPolicy={"retryOn": "5xx,sometimes"}), "spec.retryPolicy.retryOn", "unknown retry condition"),
        (upstream(retryPolicy={"retryOn": "504-500"}), "spec.retryPolicy.retryOn", "low to high"),
        (upstream(retryPolicy={"retryOn": "unavailabel"}), "spec.retryPolicy.retryOn", "unavailable"),
        (
            upstream(retryPolicy={"retryOn": "unavailable", "grpcStatusCodes": [14, 17]}),
            "spec.retryPolicy.grpcStatusCodes[1]",
            "16",
        ),
        (
            upstream(
                retryPolicy={"retryOn": "5xx", "retryBackoffBaseInterval": "1s", "retryBackoffMaxInterval": "1ms"}
            ),
            "spec.retryPolicy.retryBackoffMaxInterval",
            "must not be shorter",
        ),
        (upstream(retryPolicy={"retryOn": "5xx", "numRetries": 50}), "spec.retryPolicy.numRetries", ""),
        (upstream(outlierDetection={"maxEjectionPercent": 101}), "spec.outlierDetection.maxEjectionPercent", ""),
        (upstream(healthCheck={"interval": "1s"}), "spec.healthCheck", "exactly one of http or tcp"),
        (
            upstream(httpRoutes=[{"httpRouteGroup": "r", "matches": ["a", "a"], "timeouts": {"request": "1s"}}]),
            "spec.httpRoutes[0].matches[1]",
            "already set",
        ),
        ({**upstream(), "spec": {"targetRef": {"kind": "Pod", "name": "x"}}}, "spec.targetRef.kind", "'Service'"),
        (rate_limit(total={"requestsPerSecond": 0}), "spec.total.requestsPerSecond", ""),
        (
            rate_limit(overrides=[{"requestsPerSecond": 1, "clientRefs": [{"kind": "ServiceAccount", "name": "A_b"}]}]),
            "spec.overrides[0].clientRefs[0].name",
            "",
        ),
    ],
)
def test_bad_fields_are_named_with_their_path(raw: dict[str, Any], path: str, reason: str) -> None:
    obj, problems = check(raw, source="policy.yaml")
    assert obj is None
    errors = [p for p in problems if p.is_error]
    assert any(p.path == path and reason in p.message for p in errors), [(p.path, p.message) for p in errors]
    assert all(p.kind == raw["kind"] and p.name == "bookstore" for p in errors)


def test_warnings_do_not_reject() -> None:
    obj, problems = check(upstream(), source="policy.yaml")
    assert obj is not None
    assert [p.path for p in problems] == ["spec"]
    obj, problems = check(
        upstream(timeouts={"request": "1s"}, retryPolicy={"retryOn": "5xx", "perTryTimeout": "2s"}),
        source="policy.yaml",
    )
    assert obj is not None
    assert [p.path for p in problems] == ["spec.retryPolicy.perTryTimeout"]


@pytest.mark.parametrize("sample", [FULL_UPSTREAM, FULL_RATE_LIMIT], ids=lambda s: s["kind"])
def test_crd_accepts_a_full_policy_and_shows_target_and_acceptance(sample: dict[str, Any]) -> None:
    crd = build_crd(sample["kind"])
    (version,) = crd["spec"]["versions"]
    errors = list(Draft202012Validator(version["schema"]["openAPIV3Schema"]).iter_errors(sample))
    assert not errors, errors[0].message
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Target"] == ".spec.targetRef.name"
    assert "Accepted" in columns["Accepted"]
    assert crd["spec"]["conversion"] == {"strategy": "None"}
    assert SERVED[sample["kind"]] == ("policy.smi-mesh.io/v1alpha1",)
    assert sample["kind"] in POLICY_KINDS
