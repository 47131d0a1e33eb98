"""What a sidecar's ``/metrics`` says about its mutual TLS, for ``smi status``.

``SidecarTls.parse`` reads one scrape (docs/proxy.md lists the metrics): the active mode
(``smi_mtls_mode``), the workload certificate's not-after
(``smi_certificate_expiry_timestamp_seconds``; absent before the first certificate and in
mode ``off``) and the inbound sockets by outcome (``smi_inbound_tls_connections_total``:
``mtls_accepted``, ``plaintext_refused``, …).  Text that is not Prometheus exposition gives
an empty view rather than an error: status is best effort.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True, slots=True)
class SidecarTls:
    mode: str | None = None
    certificate_expiry: float | None = None  # Unix time
    inbound: dict[str, int] = field(default_factory=dict)  # result -> connections

    @classmethod
    def parse(cls, text: str) -> SidecarTls:
        mode: str | None = None
        expiry: float | None = None
        inbound: dict[str, int] = {}
        try:
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name == "smi_mtls_mode" and sample.value == 1:
                        mode = sample.labels.get("mode")
                    elif sample.name == "smi_certificate_expiry_timestamp_seconds":
                        expiry = sample.value
                    elif sample.name == "smi_inbound_tls_connections_total":
                        inbound[sample.labels.get("result", "")] = int(sample.value)
        except ValueError:
            return cls()
        return cls(mode=mode, certificate_expiry=expiry, inbound=inbound)

    def as_json(self) -> dict[str, object]:
        expires = (
            datetime.datetime.fromtimestamp(self.certificate_expiry, tz=datetime.UTC).isoformat(timespec="seconds")
            if self.certificate_expiry is not None
            else None
        )
        return {
            "mtls": self.mode,
            "certificate_expiry": self.certificate_expiry,
            "certificate_expires": expires,
            "inbound_tls": dict(sorted(self.inbound.items())),
        }


__all__ = ["SidecarTls"]
