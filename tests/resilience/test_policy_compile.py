"""The policy group's compile: policies become cluster resilience and inbound rate limits, with statuses."""

from __future__ import annotations

from typing import Any

from smi.compile import Compiler, MeshSettings
from smi.groups import MESH_GROUPS
from smi.model import ObjectKey
from smi.model.parsing import parse
from smi.proxyconfig import decode, encode
from smi.proxyconfig.types import ProxyConfig
from tests.compile.builders import pod, service
from tests.compile.manifests import snapshot_of
from tests.resilience.test_policy_kinds import rate_limit, upstream


def _objects(*policies: dict[str, Any]) -> list[Any]:
    return [
        service("bookstore", selector={"app": "bookstore"}, ns="shop"),
        pod("bookstore-1", ip="10.0.0.2", sa="bookstore", ns="shop", labels={"app": "bookstore"}),
        pod("buyer-1", ip="10.0.0.3", sa="buyer", ns="shop"),
        *(parse(p) for p in policies),
    ]


def _compile(*policies: dict[str, Any]) -> tuple[Compiler, Any]:
    compiler = Compiler(MeshSettings(permissive=True), MESH_GROUPS)
    return compiler, snapshot_of(_objects(*policies))


def test_upstream_policy_reaches_the_callers_cluster_over_the_defaults() -> None:
    compiler, snap = _compile(
        upstream(
            timeouts={"request": "3s"},
            retryPolicy={"retryOn": "5xx,429", "numRetries": 2},
            connectionSettings={"http": {"maxRequests": 5}},
        )
    )
    config = compiler.compile_proxy(snap, namespace="shop", pod="buyer-1")
    assert config is not None
    (cluster,) = [c for c in config.outbound.clusters if c.service == "bookstore"]
    res = cluster.resilience
    assert res is not None and res.policy == "shop/bookstore"
    assert cluster.request_timeout_ms == 3000
    assert res.retry.retry_on == ("5xx", "retriable-status-codes") and res.retry.status_codes == (429,)
    assert res.retry.max_retries == 2
    assert res.circuit.max_requests == 5 and res.circuit.max_retries == 3  # the rest: defaults
    assert res.outliers.enabled and res.outliers.consecutive_failures == 7
    assert decode(ProxyConfig, encode(config)) == config  # the stream carries it as is


def test_grpc_statuses_reach_the_callers_retry_config() -> None:
    compiler, snap = _compile(upstream(retryPolicy={"retryOn": "unavailable,internal", "grpcStatusCodes": [8]}))
    config = compiler.compile_proxy(snap, namespace="shop", pod="buyer-1")
    assert config is not None
    (cluster,) = [c for c in config.outbound.clusters if c.service == "bookstore"]
    assert cluster.resilience is not None
    assert cluster.resilience.retry.grpc_status_codes == (8, 13, 14)
    assert cluster.resilience.retry.retry_on == ()
    assert decode(ProxyConfig, encode(config)) == config
    status = compiler.statuses(snap)[ObjectKey("UpstreamTrafficPolicy", "shop", "bookstore")]
    assert status.accepted and status.reason == "Accepted"


def test_without_a_policy_the_config_is_encoded_as_before() -> None:
    compiler, snap = _compile()
    config = compiler.compile_proxy(snap, namespace="shop", pod="buyer-1")
    assert config is not None
    text = encode(config)
    assert all("resilience" not in c for c in text["outbound"]["clusters"])
    assert "rate_limits" not in text["inbound"]


def test_rate_limit_reaches_the_destinations_inbound_sidecar() -> None:
    compiler, snap = _compile(
        rate_limit(
            total={"requestsPerSecond": 10},
            overrides=[{"requestsPerSecond": 50, "clientRefs": [{"kind": "ServiceAccount", "name": "buyer"}]}],
        )
    )
    server = compiler.compile_proxy(snap, namespace="shop", pod="bookstore-1")
    client = compiler.compile_proxy(snap, namespace="shop", pod="buyer-1")
    assert server is not None and client is not None
    (limit,) = server.inbound.rate_limits
    assert limit.total_rps == 10 and limit.ports == ()
    assert limit.overrides == (("spiffe://cluster.local/ns/shop/sa/buyer", 50),)
    assert client.inbound.rate_limits == ()


def test_missing_service_port_and_route_group_are_reported() -> None:
    missing = upstream()
    missing["spec"]["targetRef"]["name"] = "nothing"
    compiler, snap = _compile(missing)
    status = compiler.statuses(snap)[ObjectKey("UpstreamTrafficPolicy", "shop", "bookstore")]
    assert not status.accepted and status.reason == "ServiceNotFound" and "shop/nothing" in status.message

    bad_port = rate_limit(total={"requestsPerSecond": 1})
    bad_port["spec"]["targetRef"]["port"] = 81
    compiler, snap = _compile(bad_port)
    status = compiler.statuses(snap)[ObjectKey("RateLimitPolicy", "shop", "bookstore")]
    assert not status.accepted and status.reason == "PortNotFound" and "has no port 81" in status.message

    compiler, snap = _compile(
        upstream(httpRoutes=[{"httpRouteGroup": "nope", "timeouts": {"request": "1s"}}], timeouts={"request": "2s"})
    )
    status = compiler.statuses(snap)[ObjectKey("UpstreamTrafficPolicy", "shop", "bookstore")]
    assert status.accepted and status.reason == "RouteNotFound"
