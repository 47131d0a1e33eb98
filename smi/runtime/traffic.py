"""Traffic figures from the sidecars' ``/metrics``: requests per second, success rate, p99.

Every sidecar exposes counters (docs/proxy.md).  ``Totals.parse`` reads one scrape's text
and keeps the *outbound* side (what callers saw), keyed by edge: source workload →
destination service, and per TrafficSplit backend.  ``rates(older, newer)`` turns two
scrapes into figures over the interval between them.

"Success" here is what a caller would call success: a response below 400.  A denied request
(403) is a failure on the dashboard (the SMI metrics API counts only 5xx as failures).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True, slots=True, order=True)
class Edge:
    source: str  # <ns>/<workload>
    destination: str  # <ns>/<service>
    backend: str = ""  # split backend service ("" for the whole edge)

    def label(self) -> str:
        return f"  ↳ {self.backend}" if self.backend else f"{self.source} → {self.destination}"


@dataclass
class Counts:
    responses: int = 0
    ok: int = 0
    connections: int = 0
    buckets: dict[float, float] = field(default_factory=dict)  # le -> cumulative count
    retries: int = 0  # retries the caller's sidecar sent (docs/resilience.md)

    def add(self, other: Counts) -> None:
        self.responses += other.responses
        self.ok += other.ok
        self.connections += other.connections
        self.retries += other.retries
        for le, count in other.buckets.items():
            self.buckets[le] = self.buckets.get(le, 0) + count


@dataclass(frozen=True, slots=True)
class Figures:
    rps: float
    success: float | None  # share of responses below 400; None when there were none
    p99: float | None  # seconds
    cps: float  # TCP connections per second
    retry_rps: float = 0.0  # retries per second the callers' sidecars sent


def _edges(labels: dict[str, str]) -> list[Edge] | None:
    if labels.get("direction") != "outbound":
        return None
    if not labels.get("source_namespace") and not labels.get("source_workload"):
        return None  # counted before the sidecar had its config: not an edge of the mesh
    source = f"{labels.get('source_namespace', '')}/{labels.get('source_workload', '')}"
    service = labels.get("destination_service", "")
    # A request its own sidecar could not route (no service of that name it may reach).
    destination = f"{labels.get('destination_namespace', '')}/{service}" if service else "(no route)"
    edges = [Edge(source, destination)]
    if labels.get("backend"):
        edges.append(Edge(source, destination, labels["backend"]))
    return edges


_TRAFFIC_SAMPLES = frozenset(
    {
        "smi_responses_total",
        "smi_request_duration_seconds_bucket",
        "smi_tcp_connections_opened_total",
        "smi_proxy_errors_total",
    }
)
_EJECTED = "smi_outlier_ejected_endpoints"


class Totals:
    """Cumulative counts per edge from one or more scrapes (one per sidecar)."""

    def __init__(self) -> None:
        self.edges: dict[Edge, Counts] = {}
        self.ejected: dict[str, int] = {}  # cluster -> endpoints ejected (the most any caller's sidecar sees)

    def _counts(self, edge: Edge) -> Counts:
        return self.edges.setdefault(edge, Counts())

    def parse(self, text: str) -> None:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == _EJECTED and sample.value:
                    cluster = sample.labels.get("cluster", "")
                    self.ejected[cluster] = max(self.ejected.get(cluster, 0), int(sample.value))
                    continue
                edges = _edges(dict(sample.labels))
                if not edges:
                    continue
                for edge in edges:
                    self._add(edge, sample.name, dict(sample.labels), sample.value)

    def _add(self, edge: Edge, name: str, labels: dict[str, str], value: float) -> None:
        if name not in _TRAFFIC_SAMPLES:
            return
        if name == "smi_proxy_errors_total" and labels.get("reason") != "retried":
            return  # other errors are already counted in the responses
        counts = self._counts(edge)
        if name == "smi_responses_total":
            counts.responses += int(value)
            if labels.get("status_code", "0").isdigit() and int(labels["status_code"]) < 400:
                counts.ok += int(value)
        elif name == "smi_request_duration_seconds_bucket":
            le = float(labels.get("le", "inf"))
            counts.buckets[le] = counts.buckets.get(le, 0) + value
        elif name == "smi_tcp_connections_opened_total":
            counts.connections += int(value)
        elif name == "smi_proxy_errors_total" and labels.get("reason") == "retried":
            counts.retries += int(value)


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """``histogram_quantile``: linear interpolation inside the bucket holding the q-th share."""
    bounds = sorted(buckets)
    if not bounds:
        return None
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return bounds[-1]


def rates(older: Totals, newer: Totals, *, seconds: float) -> dict[Edge, Figures]:
    """Figures per edge over the interval between two totals (counter resets count from zero)."""
    out: dict[Edge, Figures] = {}
    for edge, now in newer.edges.items():
        before = older.edges.get(edge, Counts())
        responses = now.responses - before.responses
        if responses < 0:  # the sidecar restarted: its counters began again
            before = Counts()
            responses = now.responses
        ok = now.ok - before.ok
        delta = {le: now.buckets[le] - before.buckets.get(le, 0) for le in now.buckets}
        connections = max(0, now.connections - before.connections)
        retries = max(0, now.retries - before.retries)
        out[edge] = Figures(
            rps=responses / seconds if seconds > 0 else 0.0,
            success=(ok / responses) if responses > 0 else None,
            p99=quantile(0.99, delta) if responses > 0 else None,
            cps=connections / seconds if seconds > 0 else 0.0,
            retry_rps=retries / seconds if seconds > 0 else 0.0,
        )
    return out


def merge(scrapes: Iterable[str]) -> Totals:
    totals = Totals()
    for text in scrapes:
        try:
            totals.parse(text)
        except ValueError:  # a truncated or foreign scrape: skip it this round
            continue
    return totals
