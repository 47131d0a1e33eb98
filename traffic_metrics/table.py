"""``kubectl get`` output: TrafficMetrics as a meta.k8s.io/v1 Table (pure).

kubectl asks with ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``; the columns are
what a person reads: NAME, SUCCESS (rate), RPS, LATENCY_P50/P90/P99, WINDOW, and for edges
SRC, DST and SIDE.  For TrafficSplits NAME is ``split/backend`` and WEIGHT/SHARE follow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from traffic_metrics.quantity import parse_quantity


def _value(obj: dict[str, Any], name: str) -> float:
    for metric in obj.get("metrics") or ():
        if metric.get("name") == name:
            return parse_quantity(str(metric.get("value", "0")))
    return math.nan


def success_text(obj: dict[str, Any]) -> str:
    ok, failed = _value(obj, "success_count"), _value(obj, "failure_count")
    total = ok + failed
    return f"{100 * ok / total:.2f}%" if total > 0 else "-"


def rps_text(obj: dict[str, Any]) -> str:
    rps = _value(obj, "requests_per_second")
    return f"{rps:.1f}" if not math.isnan(rps) else "-"


def latency_text(obj: dict[str, Any], name: str) -> str:
    ok, failed = _value(obj, "success_count"), _value(obj, "failure_count")
    if ok + failed <= 0:
        return "-"
    ms = _value(obj, name)
    return f"{ms:.0f}ms" if ms >= 10 else f"{ms:.1f}ms"


def _ref_text(ref: dict[str, Any] | None) -> str:
    if not ref:
        return "-"
    parts = [ref.get("kind", "").lower(), ref.get("namespace", ""), ref.get("name", "")]
    return "/".join(p for p in parts if p) or "-"


def _column(name: str, kind: str = "string", description: str = "", fmt: str = "") -> dict[str, Any]:
    return {"name": name, "type": kind, "format": fmt, "description": description, "priority": 0}


def table(objects: Sequence[dict[str, Any]], *, edges: bool = False) -> dict[str, Any]:
    split = any(o.get("backend") for o in objects)
    columns = [_column("NAME", fmt="name", description="the resource")]
    if edges:
        columns += [_column("SRC"), _column("DST"), _column("SIDE")]
    if split:
        columns += [_column("APEX"), _column("BACKEND"), _column("WEIGHT"), _column("SHARE")]
    columns += [
        _column("SUCCESS", description="share of responses that are not 5xx"),
        _column("RPS", description="responses per second"),
        _column("LATENCY_P50"),
        _column("LATENCY_P90"),
        _column("LATENCY_P99"),
        _column("WINDOW"),
    ]
    rows = []
    for obj in objects:
        meta = obj.get("metadata", {})
        cells: list[Any] = [meta.get("name", "")]
        if edges:
            edge = obj.get("edge") or {}
            me, other = _ref_text(obj.get("resource")), _ref_text(edge.get("resource"))
            src, dst = (me, other) if edge.get("direction") == "to" else (other, me)
            cells += [src, dst, edge.get("side", "")]
        if split:
            backend = obj.get("backend") or {}
            share = _value(obj, "measured_share")
            cells += [
                backend.get("apex", ""),
                backend.get("name", ""),
                str(backend.get("weight", "")),
                f"{100 * share:.1f}%" if not math.isnan(share) else "-",
            ]
        cells += [
            success_text(obj),
            rps_text(obj),
            latency_text(obj, "p50_response_latency"),
            latency_text(obj, "p90_response_latency"),
            latency_text(obj, "p99_response_latency"),
            obj.get("window", ""),
        ]
        partial = {"name": meta.get("name", "")}
        if meta.get("namespace"):
            partial["namespace"] = meta["namespace"]
        rows.append(
            {
                "cells": cells,
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": partial},
            }
        )
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": ""},
        "columnDefinitions": columns,
        "rows": rows,
    }


def wants_table(accept: str) -> bool:
    return any("as=Table" in part for part in accept.split(","))
