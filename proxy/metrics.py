"""Proxy metrics: plain counters on the hot path, Prometheus families at scrape time.

Each edge (a tuple of ``EDGE_LABELS`` values) has one ``EdgeStats`` object; the hot path
increments its attributes directly (no ``Counter.labels()`` lookups per request), and
``MetricsCollector`` turns them into Prometheus metric families when ``/metrics`` is
scraped.  Names follow the Prometheus conventions (base units, ``_total`` counters); the
full list is in docs/proxy.md because the SMI metrics API is computed from it.

The sidecar never imports ``prometheus_client`` (~4 MB of an idle sidecar's memory): the
families are rendered by ``proxy.exposition``.  ``MetricsCollector`` is still a
``Collector`` for the type checker and has ``collect()``, so tools and tests can register
it with a ``prometheus_client.CollectorRegistry`` (the library is imported only then).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import TYPE_CHECKING, TypeVar

from proxy.exposition import MetricFamily, counter, gauge, histogram, to_prometheus
from proxy.monitoring import leveled
from proxy.tap.hub import TapHub
from smi.proxyconfig.metricnames import BUCKET_LABELS, BUCKETS, EDGE_LABELS
from smi.proxyconfig.monitoring import DEFAULT_MONITORING, MONITORING_OFF, MONITORING_ROUTES

if TYPE_CHECKING:
    from prometheus_client.core import Metric
    from prometheus_client.registry import Collector
else:
    Collector = object

K = TypeVar("K", int, str)
Labels = tuple[str, str, str, str, str, str, str, str, str, str, str]  # EDGE_LABELS' values
_NO_TAP = TapHub()  # the hub of stats made outside a Metrics (TCP flows of the capture): never subscribed


def _add(counts: dict[K, int], more: dict[K, int]) -> None:
    for key, count in more.items():
        counts[key] = counts.get(key, 0) + count


class EdgeStats:
    """Every counter of one edge; attributes are incremented in place by the proxy."""

    __slots__ = (
        "buckets",
        "denied",
        "duration_sum",
        "errors",
        "grpc",
        "labels",
        "request_bytes",
        "requests",
        "response_bytes",
        "responses",
        "tap",
        "tcp_closed",
        "tcp_opened",
        "tcp_received",
        "tcp_sent",
    )

    def __init__(self, labels: tuple[str, ...] = (), tap: TapHub = _NO_TAP) -> None:
        self.labels = labels
        self.tap = tap  # the hot path reads ``stats.tap.listening`` and publishes only when it is true
        self.requests = 0
        self.request_bytes = 0
        self.response_bytes = 0
        self.responses: dict[int, int] = {}
        self.buckets = [0] * (len(BUCKETS) + 1)
        self.duration_sum = 0.0
        self.denied = 0
        self.errors: dict[str, int] = {}
        self.grpc: dict[int, int] = {}  # grpc-status -> gRPC calls that ended with it (proxy.http2)
        self.tcp_opened = 0
        self.tcp_closed = 0
        self.tcp_sent = 0  # bytes towards the destination
        self.tcp_received = 0  # bytes from the destination

    def response(self, status: int, seconds: float) -> None:
        self.responses[status] = self.responses.get(status, 0) + 1
        self.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.duration_sum += seconds

    def error(self, reason: str) -> None:
        self.errors[reason] = self.errors.get(reason, 0) + 1

    def absorb(self, other: EdgeStats) -> None:
        """Add ``other``'s counts to these (series summed at scrape time by the monitoring level)."""
        self.requests += other.requests
        self.request_bytes += other.request_bytes
        self.response_bytes += other.response_bytes
        _add(self.responses, other.responses)
        _add(self.errors, other.errors)
        _add(self.grpc, other.grpc)
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets, strict=True)]
        self.duration_sum += other.duration_sum
        self.denied += other.denied
        self.tcp_opened += other.tcp_opened
        self.tcp_closed += other.tcp_closed
        self.tcp_sent += other.tcp_sent
        self.tcp_received += other.tcp_received


class Metrics:
    """All edges of one proxy, plus config-stream gauges."""

    def __init__(self) -> None:
        self.edges: dict[Labels, EdgeStats] = {}
        self.tap = TapHub()  # GET /tap on the admin listener subscribes to it (proxy.tap)
        self.config_version = -1
        # the proxy opens its hops to peer sidecars with mutual TLS (set with its certificate): label tls
        self.mtls_hops = False
        # PROXY header source-workload claims that the caller's verified identity did not back (proxy.inbound)
        self.workload_claims_rejected = 0
        self.workload_claims: dict[str, set[str]] = {}  # verified identity -> the workloads it named (bounded)
        self.config_updates = 0
        self.config_rejected = 0
        self.config_stream_up = 0
        self.level = DEFAULT_MONITORING  # the config's monitoring level (smi.proxyconfig.monitoring)

    def set_level(self, level: str) -> None:
        """Apply a monitoring level: edges made from now on count under its labels; tap on or off."""
        self.level = level
        if level == MONITORING_ROUTES:
            self.tap.switch_on()
        elif self.tap.off != level:
            self.tap.switch_off(level)

    def edge(self, labels: Labels) -> EdgeStats:
        labels = leveled(labels, self.level)
        stats = self.edges.get(labels)
        if stats is None:
            stats = self.edges[labels] = EdgeStats(labels, self.tap)
        return stats

    def error_total(self, reason: str) -> int:
        return sum(s.errors.get(reason, 0) for s in self.edges.values())

    def exported(self) -> list[tuple[Labels, EdgeStats]]:
        """The edges ``/metrics`` shows at the current level: as counted, or summed under its labels."""
        edges = list(self.edges.items())  # a copy: a scrape runs on the loop thread, but be safe against growth
        level = self.level
        if level == MONITORING_ROUTES:
            return edges
        summed: dict[Labels, EdgeStats] = {}
        for labels, stats in edges:
            key = leveled(labels, level)
            total = summed.get(key)
            if total is None:
                total = summed[key] = EdgeStats(key)
            total.absorb(stats)
        return list(summed.items())


def _status_class(code: int) -> str:
    return f"{code // 100}xx"


class MetricsCollector(Collector):
    """Exposes a ``Metrics`` object as Prometheus families (``proxy.exposition``).

    ``families()`` is what the sidecar renders; ``collect()`` gives the same families as
    ``prometheus_client`` objects, for a ``CollectorRegistry`` (tests, tools).
    """

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return to_prometheus(self.families())

    def families(self) -> Iterator[MetricFamily]:
        labels = EDGE_LABELS
        requests = counter("smi_requests", "HTTP requests received", labels=labels)
        responses = counter("smi_responses", "HTTP responses sent", labels=[*labels, "status_code", "status_class"])
        duration = histogram(
            "smi_request_duration_seconds", "Time from request head to the end of the response", labels=labels
        )
        req_bytes = counter("smi_request_bytes", "HTTP request body bytes", labels=labels)
        resp_bytes = counter("smi_response_bytes", "HTTP response body bytes", labels=labels)
        opened = counter("smi_tcp_connections_opened", "Proxied TCP connections opened", labels=labels)
        closed = counter("smi_tcp_connections_closed", "Proxied TCP connections closed", labels=labels)
        tcp_bytes = counter("smi_tcp_bytes", "Opaque TCP bytes relayed", labels=[*labels, "flow"])
        errors = counter("smi_proxy_errors", "Requests/connections the proxy failed", labels=[*labels, "reason"])
        denied = counter("smi_authz_denied", "Requests/connections denied by access policy", labels=labels)
        grpc = counter(
            "smi_grpc_responses", "gRPC calls by grpc-status (non-zero: failure)",
            labels=[*labels, "grpc_status", "classification"],
        )  # fmt: skip
        off = self.metrics.level == MONITORING_OFF  # only the proxy's own errors and denials, per direction
        for values, s in self.metrics.exported():
            if off:
                for reason, count in sorted(s.errors.items()):
                    errors.add([*values, reason], count)
                if s.denied:
                    denied.add(values, s.denied)
                continue
            if s.requests:
                requests.add(values, s.requests)
                req_bytes.add(values, s.request_bytes)
                resp_bytes.add(values, s.response_bytes)
            total = 0
            for code, count in sorted(s.responses.items()):
                responses.add([*values, str(code), _status_class(code)], count)
                total += count
            if total:
                cumulative, buckets = 0, []
                for bound, count in zip(BUCKET_LABELS, s.buckets, strict=True):
                    cumulative += count
                    buckets.append((bound, float(cumulative)))
                duration.add_histogram(values, buckets, s.duration_sum)
            if s.tcp_opened or s.tcp_closed:
                opened.add(values, s.tcp_opened)
                closed.add(values, s.tcp_closed)
                tcp_bytes.add([*values, "to_destination"], s.tcp_sent)
                tcp_bytes.add([*values, "from_destination"], s.tcp_received)
            for reason, count in sorted(s.errors.items()):
                errors.add([*values, reason], count)
            if s.denied:
                denied.add(values, s.denied)
            for code, count in sorted(s.grpc.items()):
                grpc.add([*values, str(code), "success" if code == 0 else "failure"], count)
        yield from (requests, responses, duration, req_bytes, resp_bytes, opened, closed, tcp_bytes, errors, denied)
        yield grpc
        m = self.metrics
        yield gauge("smi_config_version", "Version of the active config (-1: none yet)", value=m.config_version)
        yield counter("smi_config_updates", "Configs applied", value=m.config_updates)
        yield counter(
            "smi_workload_claims_rejected",
            "Callers' source-workload claims (PROXY header) not backed by their verified identity (label left empty)",
            value=m.workload_claims_rejected,
        )
        yield counter("smi_config_rejected", "Config messages rejected as invalid", value=m.config_rejected)
        yield gauge(
            "smi_config_stream_up", "1 while connected to the control plane's config stream", value=m.config_stream_up
        )
