"""Egress metrics: connections and bytes to each destination outside the mesh.

``smi_egress_connections_total{destination, host, result}`` (``result``: ``allowed`` or
``denied``; ``destination`` is ``ip:port``; ``host`` is the HTTP Host or TLS SNI when the
policy looked for one, else ""), ``smi_egress_bytes_total{destination, flow}`` and
``smi_egress_errors_total{destination, reason}`` (connect failures).  The byte and error
counts come from the ``EdgeStats`` the splice updates (one per destination, not among the
mesh edges).  Destinations are bounded (``MAX_DESTINATIONS``); past it they share ``other``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

from proxy.exposition import MetricFamily, counter, to_prometheus
from proxy.metrics import EdgeStats

if TYPE_CHECKING:
    from prometheus_client.core import Metric
    from prometheus_client.registry import Collector
else:
    Collector = object

MAX_DESTINATIONS: Final = 1000
OTHER: Final = "other"


class EgressStats(Collector):
    def __init__(self) -> None:
        self.connections: dict[tuple[str, str, str], int] = {}
        self.flows: dict[str, EdgeStats] = {}

    def destination(self, ip: str, port: int) -> str:
        name = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
        return name if name in self.flows or len(self.flows) < MAX_DESTINATIONS else OTHER

    def count(self, destination: str, host: str, *, allowed: bool) -> EdgeStats:
        key = (destination, host, "allowed" if allowed else "denied")
        self.connections[key] = self.connections.get(key, 0) + 1
        stats = self.flows.get(destination)
        if stats is None:
            stats = self.flows[destination] = EdgeStats()
        return stats

    def collect(self) -> Iterator[Metric]:
        return to_prometheus(self.families())

    def families(self) -> Iterator[MetricFamily]:
        connections = counter(
            "smi_egress_connections", "Captured connections to destinations outside the mesh, by policy result",
            labels=["destination", "host", "result"],
        )  # fmt: skip
        for key, n in sorted(self.connections.items()):
            connections.add(key, n)
        flow = counter(
            "smi_egress_bytes", "Bytes relayed to and from egress destinations", labels=["destination", "flow"]
        )
        errors = counter("smi_egress_errors", "Egress connections that failed", labels=["destination", "reason"])
        for destination, stats in sorted(self.flows.items()):
            if stats.tcp_opened:
                flow.add([destination, "to_destination"], stats.tcp_sent)
                flow.add([destination, "from_destination"], stats.tcp_received)
            for reason, n in sorted(stats.errors.items()):
                errors.add([destination, reason], n)
        yield from (connections, flow, errors)
