"""What kubectl and the aggregator ask before any metric: discovery, OpenAPI, version (pure, from memory).

These answers never touch the source of numbers, so they stay fast while Prometheus or the
sidecars are down (an aggregated API whose discovery fails breaks discovery, and namespace
deletion, for the whole cluster).

Besides the kinds of SPEC 4.3 (``traffic_metrics.model.KINDS``, each with an ``edges``
subresource) the list serves ``trafficmetrics``: the workloads of a namespace (Deployments,
StatefulSets, DaemonSets, Jobs), so that ``kubectl get trafficmetrics.metrics.smi-spec.io
-n NS`` names something a person asks for.  Each plural is advertised with a kind of its
own (``discovery_kind``), so that kubectl asks each for its own items.
"""

from __future__ import annotations

from typing import Any, Final

from traffic_metrics.model import GROUP, GROUP_VERSION, KINDS, VERSION, Kind

ALL_WORKLOADS: Final = "trafficmetrics"


def discovery_kind(kind: Kind) -> str:
    """The kind discovery advertises for ``kind``'s plural: one of its own, e.g. ``DeploymentTrafficMetrics``.

    kubectl maps a resource to its kind and back (the RESTMapper keeps ONE plural per
    kind), so plurals that shared ``TrafficMetrics`` all resolved to the last one listed:
    ``kubectl get deployments.metrics.smi-spec.io`` asked for ``trafficmetrics``.  The
    objects served stay ``kind: TrafficMetrics`` (the SMI shape); only discovery differs.
    """
    return f"{kind.kind}TrafficMetrics"


def api_resource_list() -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for kind in KINDS.values():
        entry = {
            "name": kind.plural,
            "singularName": kind.kind.lower(),
            "namespaced": kind.namespaced,
            "kind": discovery_kind(kind),
            "verbs": ["get", "list"],
        }
        resources.append(entry)
        if kind.plural != "trafficsplits":
            resources.append({**entry, "name": f"{kind.plural}/edges", "verbs": ["get"]})
    resources.append(
        {
            "name": ALL_WORKLOADS,
            "singularName": "trafficmetrics",
            "namespaced": True,
            "kind": "TrafficMetrics",
            "verbs": ["get", "list"],
            "shortNames": ["tm"],
            "categories": ["smi"],
        }
    )
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GROUP_VERSION, "resources": resources}


def _group() -> dict[str, Any]:
    version = {"groupVersion": GROUP_VERSION, "version": VERSION}
    return {"name": GROUP, "versions": [version], "preferredVersion": version}


def api_group() -> dict[str, Any]:
    return {"kind": "APIGroup", "apiVersion": "v1", **_group()}


def api_group_list() -> dict[str, Any]:
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group()]}


def api_versions() -> dict[str, Any]:
    """``/api``: this server serves no core group."""
    return {"kind": "APIVersions", "versions": [], "serverAddressByClientCIDRs": []}


def version() -> dict[str, str]:
    return {
        "major": "1",
        "minor": "30",
        "gitVersion": "v1.30.0-smi-metrics",
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "python",
        "compiler": "cpython",
        "platform": "linux/amd64",
    }


_METRIC = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "unit": {"type": "string"},
        "value": {"type": "string", "description": "a Kubernetes quantity"},
    },
}
_REF = {"type": "object", "properties": {k: {"type": "string"} for k in ("kind", "namespace", "name")}}
TRAFFIC_METRICS_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "description": "Golden metrics of a resource, or of one edge of it, over a window",
    "properties": {
        "kind": {"type": "string"},
        "apiVersion": {"type": "string"},
        "metadata": {"type": "object"},
        "timestamp": {"type": "string", "format": "date-time"},
        "window": {"type": "string", "description": "a Go duration"},
        "resource": _REF,
        "edge": {
            "type": "object",
            "properties": {
                "direction": {"type": "string", "enum": ["to", "from"]},
                "side": {"type": "string", "enum": ["client", "server"]},
                "resource": _REF,
            },
        },
        "backend": {
            "type": "object",
            "properties": {"apex": {"type": "string"}, "name": {"type": "string"}, "weight": {"type": "number"}},
        },
        "metrics": {"type": "array", "items": _METRIC},
    },
    "x-kubernetes-group-version-kind": [{"group": GROUP, "version": VERSION, "kind": "TrafficMetrics"}],
}


def openapi_v2() -> dict[str, Any]:
    definition = "io.smi-spec.metrics.v1alpha1.TrafficMetrics"
    paths: dict[str, Any] = {}
    for kind in KINDS.values():
        base = f"/apis/{GROUP_VERSION}" + ("/namespaces/{namespace}" if kind.namespaced else "")
        ok = {"200": {"description": "OK", "schema": {"$ref": f"#/definitions/{definition}"}}}
        paths[f"{base}/{kind.plural}"] = {"get": {"operationId": f"list{kind.kind}Metrics", "responses": ok}}
        paths[f"{base}/{kind.plural}/{{name}}"] = {"get": {"operationId": f"read{kind.kind}Metrics", "responses": ok}}
    return {
        "swagger": "2.0",
        "info": {"title": "metrics.smi-spec.io", "version": VERSION},
        "paths": paths,
        "definitions": {definition: TRAFFIC_METRICS_SCHEMA},
    }


def openapi_v3_index() -> dict[str, Any]:
    return {"paths": {f"apis/{GROUP_VERSION}": {"serverRelativeURL": f"/openapi/v3/apis/{GROUP_VERSION}"}}}


def openapi_v3() -> dict[str, Any]:
    return {
        "openapi": "3.0.0",
        "info": {"title": "metrics.smi-spec.io", "version": VERSION},
        "paths": {},
        "components": {"schemas": {"io.smi-spec.metrics.v1alpha1.TrafficMetrics": TRAFFIC_METRICS_SCHEMA}},
    }
