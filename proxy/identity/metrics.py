"""Prometheus metrics of the sidecar's mutual TLS: what the inbound port accepted or refused, why.

Exported on the admin listener's ``/metrics`` next to the traffic metrics::

    smi_mtls_mode{mode}                                  1 for the active mode (strict, permissive, off)
    smi_inbound_tls_connections_total{result}            every accepted socket's outcome: mtls_accepted,
                                                         plaintext_accepted, plaintext_refused,
                                                         expired_certificate, unknown_ca,
                                                         no_client_certificate, bad_certificate,
                                                         handshake_failed, handshake_timeout, identity_denied,
                                                         expired_resumption
    smi_inbound_plaintext_connections_total              plain text accepted (permissive mode): traffic
                                                         that is still unauthenticated
    smi_outbound_tls_connections_total{result}           new mTLS connections to peers: opened, resumed
    smi_outbound_tls_failures_total{reason}              identity_rejected, unknown_ca, expired_certificate, ...
    smi_certificate_expiry_timestamp_seconds             not-after of the current workload certificate
    smi_certificate_renewals_total / _failures_total     renewals done / CA requests that failed

The collector reads live objects at scrape time (no work on the hot path) and is rendered
by ``proxy.exposition`` (no ``prometheus_client`` in the sidecar).
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from proxy.exposition import MetricFamily, counter, gauge, to_prometheus
from proxy.identity.inbound import InboundStats

if TYPE_CHECKING:
    from prometheus_client.core import Metric
    from prometheus_client.registry import Collector

    from proxy.identity.manager import CertificateManager
else:
    Collector = object

MODES = ("strict", "permissive", "off")


class OutboundTlsCounts(Protocol):
    tls_opened: int
    tls_resumed: int
    tls_failures: collections.Counter[str]


class TlsMetricsCollector(Collector):
    """``families()`` for the sidecar's ``/metrics``; ``collect()`` for a ``prometheus_client`` registry."""

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
        return to_prometheus(self.families())

    def families(self) -> Iterator[MetricFamily]:
        mode = gauge("smi_mtls_mode", "The sidecar's mutual TLS mode (1 = active)", labels=["mode"])
        for name in MODES:
            mode.add([name], 1.0 if name == self.mode else 0.0)
        yield mode
        inbound = counter("smi_inbound_tls_connections", "Inbound connections by TLS outcome", labels=["result"])
        counts = self.inbound.counts if self.inbound is not None else collections.Counter[str]()
        for result, n in sorted(counts.items()):
            inbound.add([result], n)
        yield inbound
        yield counter(
            "smi_inbound_plaintext_connections",
            "Plain-text inbound connections accepted (permissive mode)",
            value=counts.get("plaintext_accepted", 0),
        )
        if self.outbound is not None:
            opened = counter("smi_outbound_tls_connections", "New mTLS connections to peer sidecars", labels=["result"])
            opened.add(["opened"], self.outbound.tls_opened)
            opened.add(["resumed"], self.outbound.tls_resumed)
            yield opened
            failures = counter(
                "smi_outbound_tls_failures", "mTLS connections to peer sidecars that failed", labels=["reason"]
            )
            for reason, n in sorted(self.outbound.tls_failures.items()):
                failures.add([reason], n)
            yield failures
        if self.manager is not None:
            current = self.manager.current
            if current is not None:
                yield gauge(
                    "smi_certificate_expiry_timestamp_seconds",
                    "Not-after of the workload certificate (Unix time)",
                    value=current.not_after.timestamp(),
                )
            yield counter("smi_certificate_renewals", "Workload certificate renewals", value=self.manager.renewals)
            yield counter("smi_certificate_failures", "Failed certificate requests", value=self.manager.failures)
