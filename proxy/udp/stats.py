"""UDP metrics, per edge (the same labels as the HTTP/TCP edges) and direction of flow.

``smi_udp_datagrams_total{<edge>, flow}`` and ``smi_udp_bytes_total{<edge>, flow}`` (``flow``:
``to_destination`` | ``from_destination``), ``smi_udp_sessions_opened_total`` /
``smi_udp_sessions_closed_total{<edge>}``, ``smi_udp_dropped_total{<edge>, reason}``
(``too_large``, ``empty``, ``too_many_sessions``, ``queue_full``, ``denied``, ``no_route``,
``connect_failed``, ``bad_frame``).  One ``UdpStats`` per ``Metrics`` (``udp_stats_for``).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING

from proxy.exposition import MetricFamily, counter, to_prometheus
from proxy.metrics import EDGE_LABELS, Labels, Metrics

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
    def __init__(self) -> None:
        self.edges: dict[Labels, UdpEdge] = {}

    def edge(self, labels: Labels) -> UdpEdge:
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
        for values, e in list(self.edges.items()):
            datagrams.add([*values, "to_destination"], e.datagrams_out)
            datagrams.add([*values, "from_destination"], e.datagrams_in)
            size.add([*values, "to_destination"], e.bytes_out)
            size.add([*values, "from_destination"], e.bytes_in)
            opened.add(values, e.opened)
            closed.add(values, e.closed)
            for reason, n in sorted(e.dropped.items()):
                dropped.add([*values, reason], n)
        yield from (datagrams, size, opened, closed, dropped)


_BY_METRICS: weakref.WeakKeyDictionary[Metrics, UdpStats] = weakref.WeakKeyDictionary()


def udp_stats_for(metrics: Metrics) -> UdpStats:
    """The UDP counters that go with one proxy's ``Metrics`` (made on first use)."""
    stats = _BY_METRICS.get(metrics)
    if stats is None:
        stats = _BY_METRICS[metrics] = UdpStats()
    return stats
