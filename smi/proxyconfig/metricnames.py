"""What the sidecar's metrics are labelled with, shared by the sidecar and the SMI metrics API.

The sidecar (``proxy.metrics``) exports one series per edge with these labels and
latency histograms with these buckets; ``traffic_metrics`` reads them back to compute
TrafficMetrics.  A leaf in ``smi.proxyconfig``, the one control-plane package the proxy
may import, so that the control plane never imports ``proxy/``.
"""

from __future__ import annotations

from typing import Final

EDGE_LABELS: Final = (
    "direction",
    "source_namespace",
    "source_workload",
    "source_identity",
    "destination_namespace",
    "destination_service",
    "destination_workload",
    "destination_identity",
    "route",
    "backend",
    "tls",  # "true" when the hop between the two sidecars was mutual TLS, else "false"
)
TLS_LABEL: Final = "tls"

# Fine enough for p50/p90/p99 between 0.5 ms and 10 s.
BUCKETS: Final = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.075,
    0.1, 0.15, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0,
)  # fmt: skip
BUCKET_LABELS: Final = (*(repr(b) for b in BUCKETS), "+Inf")  # the ``le`` label of each bucket
