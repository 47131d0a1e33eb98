"""Dashboard figures computed from real sidecar metrics text (the proxy's own collector)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from proxy.metrics import Metrics, MetricsCollector
from smi.runtime.dashboard import render
from smi.runtime.traffic import Edge, merge, quantile, rates


def exposition(metrics: Metrics) -> str:
    registry = CollectorRegistry()
    registry.register(MetricsCollector(metrics))
    return generate_latest(registry).decode()


def labels(backend: str, *, direction: str = "outbound", source: str = "bookbuyer") -> tuple[str, ...]:
    return (
        direction, "bookstore", source, f"spiffe://cluster.local/ns/bookstore/sa/{source}",
        "bookstore", "bookstore", f"{backend}", "spiffe://cluster.local/ns/bookstore/sa/bookstore",
        "bookstore/bookstore-split", backend, "true",
    )  # fmt: skip


def test_rates_follow_the_split_backends_and_count_denials_as_failures() -> None:
    metrics = Metrics()
    before = merge([exposition(metrics)])
    for _ in range(30):
        metrics.edge(labels("bookstore-v1")).response(200, 0.002)  # type: ignore[arg-type]
    for _ in range(10):
        metrics.edge(labels("bookstore-v2")).response(200, 0.004)  # type: ignore[arg-type]
    for _ in range(10):
        metrics.edge(labels("", source="bookthief")).response(403, 0.001)  # type: ignore[arg-type]
    metrics.edge(labels("bookstore-v1", direction="inbound")).response(200, 0.002)  # type: ignore[arg-type]
    after = merge([exposition(metrics), "this is # not { prometheus"])
    figures = rates(before, after, seconds=2.0)
    edge = Edge("bookstore/bookbuyer", "bookstore/bookstore")
    assert figures[edge].rps == pytest.approx(20.0)
    assert figures[edge].success == 1.0
    assert figures[Edge("bookstore/bookbuyer", "bookstore/bookstore", "bookstore-v1")].rps == pytest.approx(15.0)
    assert figures[Edge("bookstore/bookbuyer", "bookstore/bookstore", "bookstore-v2")].rps == pytest.approx(5.0)
    thief = figures[Edge("bookstore/bookthief", "bookstore/bookstore")]
    assert thief.success == 0.0 and thief.rps == pytest.approx(5.0)
    p99 = figures[edge].p99
    assert p99 is not None and 0.003 < p99 <= 0.005
    text = render(figures, pods=[("bookstore/bookbuyer-x", "127.1.0.2", "ready")], events=["12:00:00 hello"])
    assert "bookstore/bookbuyer → bookstore/bookstore" in text
    assert "↳ bookstore-v2" in text and "0.0%" in text


def test_quantile_interpolates_within_the_bucket() -> None:
    assert quantile(0.5, {0.1: 0.0, 0.2: 10.0, float("inf"): 10.0}) == pytest.approx(0.15)
    assert quantile(0.99, {}) is None
    assert quantile(0.99, {0.1: 0.0, float("inf"): 0.0}) is None


def test_a_restarted_sidecar_resets_its_counters_without_negative_rates() -> None:
    metrics = Metrics()
    for _ in range(50):
        metrics.edge(labels("bookstore-v1")).response(200, 0.002)  # type: ignore[arg-type]
    before = merge([exposition(metrics)])
    fresh = Metrics()
    for _ in range(4):
        fresh.edge(labels("bookstore-v1")).response(200, 0.002)  # type: ignore[arg-type]
    figures = rates(before, merge([exposition(fresh)]), seconds=1.0)
    assert figures[Edge("bookstore/bookbuyer", "bookstore/bookstore")].rps == pytest.approx(4.0)


def test_samples_that_are_not_traffic_or_have_no_source_make_no_dashboard_row() -> None:
    text = (
        "# TYPE smi_proxy_errors_total counter\n"
        'smi_proxy_errors_total{direction="outbound",source_namespace="bookstore",source_workload="bookbuyer",'
        'destination_namespace="",destination_service="",reason="no_route"} 3\n'
        "# TYPE smi_responses_total counter\n"
        'smi_responses_total{direction="outbound",source_namespace="",source_workload="",'
        'destination_namespace="",destination_service="",status_code="503"} 1\n'
    )
    assert merge([text]).edges == {}
