"""The pure parts: quantities and durations, the sidecar's text parsed, quantiles, bounded history, selectors."""

from __future__ import annotations

import math

import pytest

from proxy.exposition import render
from proxy.metrics import Metrics, MetricsCollector
from traffic_metrics.history import TargetHistory
from traffic_metrics.quantity import go_duration, parse_go_duration, parse_quantity, quantity
from traffic_metrics.samples import (
    DENIED,
    FAILURES,
    FIRST_BUCKET,
    REQUESTS,
    RESPONSES,
    WIDTH,
    MalformedMetrics,
    parse,
    quantile,
)
from traffic_metrics.selector import SelectorError, parse_selector

EDGE = ("outbound", "shop", "buyer", "spiffe://cluster.local/ns/shop/sa/buyer", "shop", "store", "store-v1",
        "spiffe://cluster.local/ns/shop/sa/store", "r", "store-v1", "true")  # fmt: skip


@pytest.mark.parametrize(
    ("value", "text"),
    [(296.875, "296875m"), (294, "294"), (0, "0"), (2000, "2k"), (0.5, "500m"), (float("nan"), "0"), (1500, "1500")],
)
def test_quantities_print_as_kubernetes_does(value: float, text: str) -> None:
    assert quantity(value) == text
    if math.isfinite(value):
        assert parse_quantity(text) == value


@pytest.mark.parametrize(
    ("seconds", "text"), [(30, "30s"), (60, "1m0s"), (3600, "1h0m0s"), (90, "1m30s"), (0.5, "500ms")]
)
def test_durations_print_as_go_does(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text
    assert parse_go_duration(text) == seconds


def test_bad_durations_and_quantities_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="not a duration: '5 minutes'"):
        parse_go_duration("5 minutes")
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        parse_quantity("lots")


def test_the_sidecars_own_exposition_parses_into_edge_vectors() -> None:
    metrics = Metrics()
    stats = metrics.edge(EDGE)
    for status, seconds in [(200, 0.004), (200, 0.004), (503, 0.2), (403, 0.001)]:
        stats.requests += 1
        stats.response(status, seconds)
    stats.denied += 1
    rows = parse(render(MetricsCollector(metrics).families()).decode())
    row = rows[EDGE]
    assert (row[RESPONSES], row[FAILURES], row[DENIED], row[REQUESTS]) == (4, 1, 1, 4)
    assert row[WIDTH - 1] == 4  # +Inf bucket is cumulative
    assert 3 < quantile(0.5, row[FIRST_BUCKET:]) * 1000 <= 5  # the 4 ms requests' bucket


def test_a_grpc_error_with_http_200_is_a_failure() -> None:
    metrics = Metrics()
    stats = metrics.edge(EDGE)
    for grpc_status in (0, 0, 0, 5):  # three OK calls and one NOT_FOUND, all HTTP 200
        stats.requests += 1
        stats.response(200, 0.002)
        stats.grpc[grpc_status] = stats.grpc.get(grpc_status, 0) + 1
    row = parse(render(MetricsCollector(metrics).families()).decode())[EDGE]
    assert (row[RESPONSES], row[FAILURES]) == (4, 1)


def test_garbage_is_malformed_but_an_idle_sidecar_is_not() -> None:
    with pytest.raises(MalformedMetrics):
        parse("<html>oops</html>")
    assert parse("# HELP smi_config_version x\n# TYPE smi_config_version gauge\nsmi_config_version 3.0\n") == {}


def test_quantile_interpolates_like_histogram_quantile() -> None:
    cumulative = [0.0] * (WIDTH - FIRST_BUCKET)
    # 10 observations in (0.15, 0.25]: the median is halfway through that bucket
    index = 13  # BUCKETS[13] == 0.25
    for i in range(index, len(cumulative)):
        cumulative[i] = 10
    assert quantile(0.5, cumulative) == pytest.approx(0.2)
    assert math.isnan(quantile(0.5, [0.0] * len(cumulative)))


def _row(responses: float) -> list[float]:
    row = [0.0] * WIDTH
    row[RESPONSES] = responses
    return row


def test_history_change_over_a_window_and_counter_resets() -> None:
    history = TargetHistory(max_window=3600)
    for t in range(0, 121, 5):
        history.add(float(t), {EDGE: _row(t)})  # one response per second
    assert history.change(30, now=120)[EDGE][RESPONSES] == 30
    assert history.change(3600, now=120)[EDGE][RESPONSES] == 120  # younger than the window: from zero
    history.add(125.0, {EDGE: _row(2)})  # the sidecar restarted
    assert history.change(30, now=125)[EDGE][RESPONSES] == 2


def test_history_stays_bounded_over_hours_of_scrapes() -> None:
    history = TargetHistory(max_window=3600)
    for t in range(0, 4 * 3600, 5):
        history.add(float(t), {EDGE: _row(t)})
    assert len(history.snapshots) < 80
    now = 4 * 3600 - 5
    got = history.change(3600, now=now)[EDGE][RESPONSES]
    assert 3600 <= got <= 3600 + 300  # within one coarse step of the hour


def test_label_selectors() -> None:
    labels = {"app": "web", "tier": "front"}
    assert parse_selector("app=web,tier in (front, back)")(labels)
    assert not parse_selector("app!=web")(labels)
    assert parse_selector("!missing,app")(labels)
    assert not parse_selector("tier notin (front)")(labels)
    with pytest.raises(SelectorError, match="cannot parse requirement '=x'"):
        parse_selector("=x")


def test_the_sidecar_and_the_api_read_the_same_metric_names() -> None:
    from proxy import metrics as sidecar
    from smi.proxyconfig import metricnames

    assert sidecar.EDGE_LABELS == metricnames.EDGE_LABELS
    assert sidecar.BUCKETS == metricnames.BUCKETS
