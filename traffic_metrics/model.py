"""TrafficMetrics and TrafficMetricsList as metrics.smi-spec.io/v1alpha1 JSON (pure).

The shapes follow the reference server (../shared/smi-spec SPEC.md 4.2) with the fields of
the published document (``edge.side``, ``backend``): ``timestamp`` (RFC 3339, seconds),
``window`` (a Go duration), ``resource`` (kind, namespace, name), ``edge`` (direction,
side, resource; ``null`` resource = all traffic), and ``metrics``: always the five of the
reference, in its order, names and units, values as Kubernetes quantity strings:

    p99_response_latency (ms), p90_response_latency (ms), p50_response_latency (ms),
    success_count, failure_count

then this mesh's extra figures (never before or instead of the five): ``request_count``,
``requests_per_second``, ``success_rate``, ``denied_count`` (403s from the mesh's access
policy), ``proxy_error_count``, for TrafficSplit backends ``measured_share`` (the
backend's part of the apex's requests, 0..1), and last on every item ``mtls_share`` (the
part of the responses whose hop between the sidecars was mutual TLS, 0..1; 0 without
responses).  An empty list has ``"items": []`` (the
reference's ``null`` breaks clients that iterate it).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from traffic_metrics.quantity import go_duration, quantity
from traffic_metrics.samples import (
    DENIED,
    ERRORS,
    FAILURES,
    FIRST_BUCKET,
    MTLS_RESPONSES,
    REQUESTS,
    RESPONSES,
    WIDTH,
    quantile,
)

GROUP: Final = "metrics.smi-spec.io"
VERSION: Final = "v1alpha1"
GROUP_VERSION: Final = f"{GROUP}/{VERSION}"
BASE: Final = f"/apis/{GROUP_VERSION}"
METRIC_NAMES: Final = (
    "p99_response_latency",
    "p90_response_latency",
    "p50_response_latency",
    "success_count",
    "failure_count",
)


@dataclass(frozen=True, slots=True)
class Kind:
    plural: str
    kind: str  # the Kubernetes spelling (DaemonSet, not the reference's Daemonset)
    namespaced: bool = True
    short: tuple[str, ...] = ()


KINDS: Final = {
    k.plural: k
    for k in (
        Kind("namespaces", "Namespace", namespaced=False, short=("ns",)),
        Kind("pods", "Pod", short=("po",)),
        Kind("deployments", "Deployment", short=("deploy",)),
        Kind("daemonsets", "DaemonSet", short=("ds",)),
        Kind("statefulsets", "StatefulSet", short=("sts",)),
        Kind("jobs", "Job"),
        Kind("rollouts", "Rollout", short=("ro",)),  # Argo Rollouts (argoproj.io)
        Kind("services", "Service", short=("svc",)),
        Kind("trafficsplits", "TrafficSplit", short=("ts",)),
    )
}
WORKLOAD_KINDS: Final = {"deployments", "daemonsets", "statefulsets", "jobs", "rollouts"}


def kind_for(name: str) -> Kind | None:
    """The kind a user means: ``deployments``, ``deployment``, ``deploy``, ``Deployment`` …"""
    wanted = name.lower()
    for kind in KINDS.values():
        if wanted in (kind.plural, kind.kind.lower(), *kind.short):
            return kind
    return None


@dataclass(frozen=True, slots=True)
class Ref:
    kind: str
    namespace: str = ""
    name: str = ""

    def json(self) -> dict[str, str]:
        """The ObjectReference; ``{}`` for an end the mesh could not name (an unmeshed caller)."""
        if not self.kind:
            return {}
        out = {"kind": self.kind}
        if self.namespace:
            out["namespace"] = self.namespace
        if self.name:
            out["name"] = self.name
        return out

    def label(self) -> str:
        """``kind/ns/name`` shortened for tables: ``deploy/bookstore/bookbuyer``, ``ns/bookstore``."""
        kind = next((k.short[0] for k in KINDS.values() if k.kind == self.kind and k.short), self.kind.lower())
        parts = [p for p in (self.namespace, self.name) if p]
        return "/".join([kind, *parts])


@dataclass(frozen=True, slots=True)
class Backend:
    apex: str
    name: str
    weight: float

    def json(self) -> dict[str, Any]:
        weight: float | int = int(self.weight) if float(self.weight).is_integer() else self.weight
        return {"apex": self.apex, "name": self.name, "weight": weight}


@dataclass(frozen=True, slots=True)
class Item:
    """One TrafficMetrics: what it is about and the summed edge vector of its series."""

    resource: Ref
    row: Sequence[float]
    direction: str = "from"
    side: str = "server"
    other: Ref | None = None
    backend: Backend | None = None
    share: float | None = None
    edges: bool = False  # an item of an /edges list
    route: str | None = None  # the route (HTTPRouteGroup match or split route) with ``groupBy=route``


def figures(row: Sequence[float], window: float) -> list[dict[str, str]]:
    """The metrics array: the five, then the extras."""
    buckets = row[FIRST_BUCKET:WIDTH]
    responses, failures = row[RESPONSES], row[FAILURES]
    latencies = [quantile(q, buckets) * 1000 for q in (0.99, 0.90, 0.50)]
    out = [
        {"name": name, "unit": "ms", "value": quantity(value)}
        for name, value in zip(METRIC_NAMES[:3], latencies, strict=True)
    ]
    out.append({"name": "success_count", "value": quantity(responses - failures)})
    out.append({"name": "failure_count", "value": quantity(failures)})
    out.append({"name": "request_count", "value": quantity(max(row[REQUESTS], responses))})
    out.append({"name": "requests_per_second", "value": quantity(responses / window if window else 0.0)})
    rate = (responses - failures) / responses if responses else math.nan
    out.append({"name": "success_rate", "value": quantity(rate)})
    out.append({"name": "denied_count", "value": quantity(row[DENIED])})
    out.append({"name": "proxy_error_count", "value": quantity(row[ERRORS])})
    return out


def mtls_share(row: Sequence[float]) -> float:
    """The part of the responses whose hop between the sidecars was mutual TLS (0 without responses)."""
    responses = row[RESPONSES]
    return min(row[MTLS_RESPONSES] / responses, 1.0) if responses > 0 else 0.0


def rfc3339(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def self_link(ref: Ref, *, edges: bool = False) -> str:
    plural = next(k.plural for k in KINDS.values() if k.kind == ref.kind)
    if plural == "namespaces":
        link = f"{BASE}/namespaces/{ref.name}"
    else:
        link = f"{BASE}/namespaces/{ref.namespace}/{plural}/{ref.name}"
    return link + "/edges" if edges else link


def traffic_metrics(item: Item, *, when: float, window: float) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": item.resource.name}
    if item.resource.namespace:
        meta["namespace"] = item.resource.namespace
    meta["selfLink"] = self_link(item.resource, edges=item.edges)
    meta["creationTimestamp"] = rfc3339(when)
    out: dict[str, Any] = {
        "kind": "TrafficMetrics",
        "apiVersion": GROUP_VERSION,
        "metadata": meta,
        "timestamp": rfc3339(when),
        "window": go_duration(window),
        "resource": item.resource.json(),
        "edge": {
            "direction": item.direction,
            "side": item.side,
            "resource": item.other.json() if item.other is not None else None,
        },
        "backend": item.backend.json() if item.backend is not None else None,
        "metrics": figures(item.row, window),
    }
    if item.share is not None:
        out["metrics"].append({"name": "measured_share", "value": quantity(item.share)})
    out["metrics"].append({"name": "mtls_share", "value": quantity(mtls_share(item.row))})  # last on every item
    if item.route is not None:
        out["route"] = item.route
    return out


def traffic_metrics_list(
    items: Sequence[Item], *, resource: Ref, link: str, when: float, window: float
) -> dict[str, Any]:
    return {
        "kind": "TrafficMetricsList",
        "apiVersion": GROUP_VERSION,
        "metadata": {"selfLink": link},
        "resource": resource.json(),
        "items": [traffic_metrics(i, when=when, window=window) for i in items],
    }


def value_of(obj: dict[str, Any], name: str) -> str | None:
    """A metric's quantity string in a TrafficMetrics object (None when absent)."""
    for metric in obj.get("metrics") or ():
        if metric.get("name") == name:
            return str(metric.get("value"))
    return None
