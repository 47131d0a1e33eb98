"""The Prometheus source: the same window of edge vectors, read from a Prometheus that scrapes the sidecars.

For clusters that already run Prometheus.  Prometheus must add the reporting pod as the
target labels ``namespace`` and ``pod`` (the usual ``kubernetes_sd_configs`` relabelling,
see ``manifests/metrics/prometheus-scrape.yaml``; names configurable).  Each API request
runs one instant query per family, at the request's time, over the window ``W``::

    (smi_responses_total - smi_responses_total offset W) >= 0 or smi_responses_total

and the same for ``smi_request_duration_seconds_bucket``, ``smi_request_duration_seconds_sum``,
``smi_requests_total``, ``smi_authz_denied_total``, ``smi_proxy_errors_total`` and
``smi_grpc_responses_total`` (each
optionally restricted with ``{namespace=~"..."}``).  That is the counter's value now minus
its value at the window's start; a series with no sample that old (new in the window)
counts from zero, and one that went down (its sidecar restarted) counts from zero: exactly
what the direct source does (``traffic_metrics.history``), so both give the same answer for
the same traffic.  ``increase()`` is not used because it extrapolates to the window's edges
(fractional counts that the direct source could never match).

Prometheus unreachable, or answering an error, raises ``SourceUnavailable`` with the reason:
the API answers 503 for figures and keeps serving discovery.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import aiohttp

from traffic_metrics.query import WindowData
from traffic_metrics.samples import fold
from traffic_metrics.sources import SourceUnavailable

FAMILIES: Final = (
    "smi_responses_total",
    "smi_request_duration_seconds_bucket",
    "smi_request_duration_seconds_sum",
    "smi_requests_total",
    "smi_authz_denied_total",
    "smi_proxy_errors_total",
    "smi_grpc_responses_total",
)


def window_query(family: str, seconds: float, matcher: str = "") -> str:
    """The PromQL for one family's change over the window (see the module docstring)."""
    selector = f"{family}{{{matcher}}}" if matcher else family
    return f"({selector} - {selector} offset {int(seconds)}s) >= 0 or {selector}"


@dataclass
class PrometheusSource:
    url: str  # e.g. http://prometheus.monitoring:9090
    namespace_label: str = "namespace"
    pod_label: str = "pod"
    timeout: float = 10.0
    clock: Callable[[], float] = time.time
    name: str = "prometheus"

    async def _query(self, session: aiohttp.ClientSession, expr: str, when: float) -> list[dict[str, Any]]:
        url = self.url.rstrip("/") + "/api/v1/query"
        try:
            async with session.get(url, params={"query": expr, "time": f"{when:.3f}"}) as response:
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise SourceUnavailable(f"Prometheus at {self.url} is unreachable: {exc!r}") from exc
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error") if isinstance(body, dict) else body
            raise SourceUnavailable(f"Prometheus at {self.url} answered an error: {error}")
        result = body.get("data", {}).get("result", [])
        return result if isinstance(result, list) else []

    async def window(self, seconds: float) -> WindowData:
        when = self.clock()
        data = WindowData(when=when, window=seconds)
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for family in FAMILIES:
                for series in await self._query(session, window_query(family, seconds), when):
                    labels = series.get("metric", {})
                    reporter = (labels.get(self.namespace_label, ""), labels.get(self.pod_label, ""))
                    try:
                        value = float(series["value"][1])
                    except (KeyError, IndexError, TypeError, ValueError):
                        continue
                    fold(data.rows.setdefault(reporter, {}), family, labels, value)
        for reporter, rows in list(data.rows.items()):
            for key in [k for k, row in rows.items() if not any(row)]:
                del rows[key]  # no change in the window: the direct source leaves these out too
            if not rows:
                del data.rows[reporter]
        return data
