"""Resilience state on the sidecar's ``/metrics``: one series per destination (cluster).

Counters and gauges read from the current config version's guards at scrape time (nothing
is done per request):

==========================================  =======  ===========================================
metric                                      type     meaning
==========================================  =======  ===========================================
``smi_outlier_ejected_endpoints``           gauge    endpoints ejected now
``smi_outlier_ejections_total``             counter  ejections (and re-ejections after a probe)
``smi_unhealthy_endpoints``                 gauge    endpoints failing their active health check
``smi_circuit_open_total``                  counter  connections/requests/retries over a limit
``smi_circuit_requests_in_flight``          gauge    requests holding a circuit slot
``smi_retry_budget_available``              gauge    retries the budget allows now
``smi_rate_limited_total``                  counter  inbound requests/connections refused (429)
==========================================  =======  ===========================================

The label is ``cluster`` (``<ns>/<service>:<port>``); ``policy`` names the
UpstreamTrafficPolicy in force ("" for the defaults).  Retries sent and 503s of an open
circuit are also counted per edge in ``smi_proxy_errors_total`` (reasons ``retried``,
``circuit_open``, ``rate_limited``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from proxy.exposition import MetricFamily, counter, gauge

if TYPE_CHECKING:
    from proxy.holder import ConfigHolder


class ResilienceCollector:
    """``families()`` for the sidecar's registry (``proxy.exposition.Registry``)."""

    def __init__(self, holder: ConfigHolder) -> None:
        self.holder = holder

    def families(self) -> Iterator[MetricFamily]:
        runtime = self.holder.runtime
        if runtime is None:
            return
        labels = ("cluster", "policy")
        ejected = gauge("smi_outlier_ejected_endpoints", "Endpoints ejected by outlier detection now", labels=labels)
        ejections = counter("smi_outlier_ejections", "Outlier ejections", labels=labels)
        unhealthy = gauge("smi_unhealthy_endpoints", "Endpoints failing their active health check", labels=labels)
        opened = counter("smi_circuit_open", "Requests/retries refused by a circuit limit", labels=labels)
        in_flight = gauge("smi_circuit_requests_in_flight", "Requests holding a circuit slot", labels=labels)
        budget = gauge("smi_retry_budget_available", "Retries the retry budget allows now", labels=labels)
        for guard in runtime.guards:
            values = (guard.name, guard.policy)
            ejected.add(values, guard.outliers.ejected_count)
            ejections.add(values, guard.outliers.ejections_total)
            if guard.health is not None:
                unhealthy.add(values, sum(1 for ep in guard.endpoints if not guard.health.is_healthy(ep)))
            opened.add(values, guard.breaker.opened)
            in_flight.add(values, guard.breaker.requests)
            budget.add(values, round(guard.budget.available(time.monotonic()), 3))
        yield from (ejected, ejections, unhealthy, opened, in_flight, budget)
        if runtime.rate_limits is not None:
            yield counter("smi_rate_limited", "Inbound requests/connections over a RateLimitPolicy",
                          value=runtime.rate_limits.limited)  # fmt: skip


__all__ = ["ResilienceCollector"]
