"""UDP metrics, per edge (the same labels as the HTTP/TCP edges) and direction of flow.

``smi_udp_datagrams_total{<edge>, flow}`` and ``smi_udp_bytes_total{<edge>, flow}`` (``flow``:
``to_destination`` | ``from_destination``), ``smi_udp_sessions_opened_total`` /
``smi_udp_sessions_closed_total{<edge>}``, ``smi_udp_dropped_total{<edge>, reason}``
(``too_large``, ``empty``, ``too_many_sessions``, ``queue_full``, ``denied``, ``no_route``,
``connect_failed``, ``bad_frame``).  One ``UdpStats`` per ``Metrics`` (``udp_stats_for``).

They follow the proxy's monitoring level (``proxy.monitoring``) as the HTTP/TCP edges do:
``golden`` sums an edge's routes (``route`` empty), ``off`` exports only the drops, per
direction.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING

from proxy.exposition import MetricFamily, counter, to_prometheus
from proxy.metrics import Labels, Metrics
from proxy.monitoring import leveled
from smi.proxyconfig.metricnames import EDGE_LABELS
from smi.proxyconfig.monitoring import MONITORING_OFF, MONITORING_ROUTES

if TYPE_CHECKING:
    from prometheus_client.core import Metric
    from prometheus_client.registry import Collector
else:
    Collector = object


class UdpEdge:
    __slots__ = ("bytes_in", "bytes_out", "closed", "datagrams_in", "datagrams_out", "dropped", "opened")

    def __init__(self) -> None:
        self.datagrams_out = 0  # towards the destination
        self.bytes_out = 0
        self.datagrams_in = 0  # from the destination
        self.bytes_in = 0
        self.opened = 0
        self.closed = 0
        self.dropped: dict[str, int] = {}

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1


class UdpStats(Collector):
    def __init__(self, metrics: Metrics | None = None) -> None:
        self.edges: dict[Labels, UdpEdge] = {}
        self.metrics = metrics  # whose monitoring level applies (None: routes)

    @property
    def level(self) -> str:
        return self.metrics.level if self.metrics is not None else MONITORING_ROUTES

    def edge(self, labels: Labels) -> UdpEdge:
        labels = leveled(labels, self.level)
        found = self.edges.get(labels)
        if found is None:
            found = self.edges[labels] = UdpEdge()
        return found

    def collect(self) -> Iterator[Metric]:
        return to_prometheus(self.families())

    def families(self) -> Iterator[MetricFamily]:
        labels = list(EDGE_LABELS)
        datagrams = counter("smi_udp_datagrams", "UDP datagrams relayed", labels=[*labels, "flow"])
        size = counter("smi_udp_bytes", "UDP payload bytes relayed", labels=[*labels, "flow"])
        opened = counter("smi_udp_sessions_opened", "UDP sessions opened", labels=labels)
        closed = counter("smi_udp_sessions_closed", "UDP sessions closed", labels=labels)
        dropped = counter("smi_udp_dropped", "UDP datagrams dropped", labels=[*labels, "reason"])
        level = self.level
        for values, e in self._exported(level):
            if level == MONITORING_OFF:
                for reason, n in sorted(e.dropped.items()):
                    dropped.add([*values, reason], n)
                continue
            datagrams.add([*values, "to_destination"], e.datagrams_out)
            datagrams.add([*values, "from_destination"], e.datagrams_in)
            size.add([*values, "to_destination"], e.bytes_out)
            size.add([*values, "from_destination"], e.bytes_in)
            opened.add(values, e.opened)
            closed.add(values, e.closed)
            for reason, n in sorted(e.dropped.items()):
                dropped.add([*values, reason], n)
        yield from (datagrams, size, opened, closed, dropped)

    def _exported(self, level: str) -> list[tuple[Labels, UdpEdge]]:
        edges = list(self.edges.items())
        if level == MONITORING_ROUTES:
            return edges
        summed: dict[Labels, UdpEdge] = {}
        for labels, e in edges:
            total = summed.setdefault(leveled(labels, level), UdpEdge())
            total.datagrams_out += e.datagrams_out
            total.bytes_out += e.bytes_out
            total.datagrams_in += e.datagrams_in
            total.bytes_in += e.bytes_in
            total.opened += e.opened
            total.closed += e.closed
            for reason, n in e.dropped.items():
                total.dropped[reason] = total.dropped.get(reason, 0) + n
        return list(summed.items())


_BY_METRICS: weakref.WeakKeyDictionary[Metrics, UdpStats] = weakref.WeakKeyDictionary()


def udp_stats_for(metrics: Metrics) -> UdpStats:
    """The UDP counters that go with one proxy's ``Metrics`` (made on first use)."""
    stats = _BY_METRICS.get(metrics)
    if stats is None:
        stats = _BY_METRICS[metrics] = UdpStats(metrics)
    return stats
