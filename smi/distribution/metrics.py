"""Prometheus metrics of the config distribution, on a registry of their own.

Each ``DistributionMetrics`` owns a ``CollectorRegistry`` so that several servers (tests,
benchmarks) can live in one process; ``/metrics`` serves that registry.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class DistributionMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.streams = Gauge("smi_config_streams", "Open config streams", registry=self.registry)
        self.overflows = Counter(
            "smi_config_stream_overflows",
            "Config streams closed because the proxy did not keep up (its queue was full)",
            registry=self.registry,
        )
        self.pushes = Counter("smi_config_pushes", "Config messages queued to streams", registry=self.registry)
        self.compiles = Counter("smi_config_compiles", "Per-proxy compiles run", registry=self.registry)
        self.compile_errors = Counter(
            "smi_config_compile_errors", "Per-proxy compiles that raised (last config kept)", registry=self.registry
        )
        self.refresh_seconds = Histogram(
            "smi_config_refresh_seconds",
            "Time to recompile and queue the configs of every connected proxy after a coalesced change",
            registry=self.registry,
        )
