"""UDP series follow the monitoring level as the HTTP/TCP edges do (the collector a sidecar exports)."""

from __future__ import annotations

from proxy.metrics import Labels, Metrics
from proxy.udp.stats import udp_stats_for


def labels(route: str) -> Labels:
    return ("inbound", "shop", "", "spiffe://cluster.local/ns/shop/sa/a", "shop", "", "dns", "", route, "", "true")


def samples(metrics: Metrics, name: str) -> dict[tuple[str, str], float]:
    stats = udp_stats_for(metrics)
    return {
        (s.labels["route"], s.labels.get("flow", s.labels.get("reason", ""))): s.value
        for f in stats.families()
        for s in f.samples
        if s.name == name
    }


def test_golden_sums_routes_and_off_keeps_only_drops() -> None:
    metrics = Metrics()
    stats = udp_stats_for(metrics)
    for route, n in (("shop/t/UDPRoute/a", 2), ("shop/t/UDPRoute/b", 3)):
        edge = stats.edge(labels(route))
        edge.datagrams_out += n
        edge.drop("denied")
    assert samples(metrics, "smi_udp_datagrams_total")[("shop/t/UDPRoute/a", "to_destination")] == 2
    metrics.set_level("golden")
    stats.edge(labels("shop/t/UDPRoute/a")).datagrams_out += 1  # counted on the route-less edge from now on
    assert samples(metrics, "smi_udp_datagrams_total") == {("", "to_destination"): 6, ("", "from_destination"): 0}
    metrics.set_level("off")
    assert samples(metrics, "smi_udp_datagrams_total") == {}
    assert samples(metrics, "smi_udp_dropped_total") == {("", "denied"): 2}
