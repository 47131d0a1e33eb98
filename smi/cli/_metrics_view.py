"""Reading TrafficMetrics objects for the terminal: figures, rates and table lines (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from traffic_metrics.quantity import parse_quantity


def value(obj: dict[str, Any], name: str) -> float:
    for metric in obj.get("metrics") or ():
        if metric.get("name") == name:
            try:
                return parse_quantity(str(metric.get("value", "0")))
            except ValueError:
                return math.nan
    return math.nan


def answered(obj: dict[str, Any]) -> float:
    return value(obj, "success_count") + value(obj, "failure_count")


def success(obj: dict[str, Any]) -> str:
    total = answered(obj)
    return f"{100 * value(obj, 'success_count') / total:.2f}%" if total > 0 else "-"


def rps(obj: dict[str, Any]) -> str:
    rate = value(obj, "requests_per_second")
    return "-" if math.isnan(rate) else f"{rate:.1f}"


def latency(obj: dict[str, Any], quantile: int) -> str:
    if answered(obj) <= 0:
        return "-"
    ms = value(obj, f"p{quantile}_response_latency")
    return f"{ms:.0f}ms" if ms >= 10 else f"{ms:.1f}ms"


def mtls(obj: dict[str, Any]) -> str:
    """``mtls_share`` as a percentage; "-" without responses or from a server that does not say."""
    share = value(obj, "mtls_share")
    if math.isnan(share) or answered(obj) <= 0:
        return "-"
    return f"{100 * share:.0f}%"


def count(obj: dict[str, Any], name: str) -> str:
    number = value(obj, name)
    return "-" if math.isnan(number) else f"{number:g}"


def ref_text(ref: dict[str, Any] | None) -> str:
    if not ref:
        return "-"
    return "/".join(p for p in (ref.get("kind", "").lower(), ref.get("namespace", ""), ref.get("name", "")) if p)


def render(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    lines = ["   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    return "\n".join(lines)
