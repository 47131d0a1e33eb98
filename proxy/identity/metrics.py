"""Prometheus metrics of the sidecar's mutual TLS: what the inbound port accepted or refused, why.

Exported on the admin listener's ``/metrics`` next to the traffic metrics::

    smi_mtls_mode{mode}                                  1 for the active mode (strict, permissive, off)
    smi_inbound_tls_connections_total{result}            every accepted socket's outcome: mtls_accepted,
                                                         plaintext_accepted, plaintext_refused,
                                                         expired_certificate, unknown_ca,
                                                         no_client_certificate, bad_certificate,
                                                         handshake_failed, handshake_timeout, identity_denied
    smi_inbound_plaintext_connections_total              plain text accepted (permissive mode): traffic
                                                         that is still unauthenticated
    smi_outbound_tls_connections_total{result}           new mTLS connections to peers: opened, resumed
    smi_outbound_tls_failures_total{reason}              identity_rejected, unknown_ca, expired_certificate, ...
    smi_certificate_expiry_timestamp_seconds             not-after of the current workload certificate
    smi_certificate_renewals_total / _failures_total     renewals done / CA requests that failed

The collector reads live objects at scrape time (no work on the hot path).
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from proxy.identity.inbound import InboundStats
from proxy.identity.manager import CertificateManager

MODES = ("strict", "permissive", "off")


class OutboundTlsCounts(Protocol):
    tls_opened: int
    tls_resumed: int
    tls_failures: collections.Counter[str]


class TlsMetricsCollector(Collector):
    def __init__(
        self,
        *,
        mode: str,
        inbound: InboundStats | None,
        outbound: OutboundTlsCounts | None,
        manager: CertificateManager | None,
    ) -> None:
        self.mode = mode
        self.inbound = inbound
        self.outbound = outbound
        self.manager = manager

    def collect(self) -> Iterator[Metric]:
        mode = GaugeMetricFamily("smi_mtls_mode", "The sidecar's mutual TLS mode (1 = active)", labels=["mode"])
        for name in MODES:
            mode.add_metric([name], 1.0 if name == self.mode else 0.0)
        yield mode
        inbound = CounterMetricFamily(
            "smi_inbound_tls_connections", "Inbound connections by TLS outcome", labels=["result"]
        )
        counts = self.inbound.counts if self.inbound is not None else collections.Counter[str]()
        for result, n in sorted(counts.items()):
            inbound.add_metric([result], float(n))
        yield inbound
        yield CounterMetricFamily(
            "smi_inbound_plaintext_connections",
            "Plain-text inbound connections accepted (permissive mode)",
            value=float(counts.get("plaintext_accepted", 0)),
        )
        if self.outbound is not None:
            opened = CounterMetricFamily(
                "smi_outbound_tls_connections", "New mTLS connections to peer sidecars", labels=["result"]
            )
            opened.add_metric(["opened"], float(self.outbound.tls_opened))
            opened.add_metric(["resumed"], float(self.outbound.tls_resumed))
            yield opened
            failures = CounterMetricFamily(
                "smi_outbound_tls_failures", "mTLS connections to peer sidecars that failed", labels=["reason"]
            )
            for reason, n in sorted(self.outbound.tls_failures.items()):
                failures.add_metric([reason], float(n))
            yield failures
        if self.manager is not None:
            current = self.manager.current
            if current is not None:
                yield GaugeMetricFamily(
                    "smi_certificate_expiry_timestamp_seconds",
                    "Not-after of the workload certificate (Unix time)",
                    value=current.not_after.timestamp(),
                )
            yield CounterMetricFamily(
                "smi_certificate_renewals", "Workload certificate renewals", value=float(self.manager.renewals)
            )
            yield CounterMetricFamily(
                "smi_certificate_failures", "Failed certificate requests", value=float(self.manager.failures)
            )
