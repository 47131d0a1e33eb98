"""Kubernetes manifests for the controller scenarios (a web client calling a split api service)."""

from __future__ import annotations

from typing import Any

NS = "default"
PODS = f"/api/v1/namespaces/{NS}/pods"
SERVICES = f"/api/v1/namespaces/{NS}/services"
SAS = f"/api/v1/namespaces/{NS}/serviceaccounts"
SPLITS = f"/apis/split.smi-spec.io/v1alpha4/namespaces/{NS}/trafficsplits"
TARGETS = f"/apis/access.smi-spec.io/v1alpha3/namespaces/{NS}/traffictargets"
ROUTES = f"/apis/specs.smi-spec.io/v1alpha4/namespaces/{NS}/httproutegroups"
EVENTS = f"/api/v1/namespaces/{NS}/events"


def namespace(name: str = NS) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def service_account(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": NS}}


def pod(name: str, *, app: str, sa: str, ip: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {"app": app},
            "annotations": {"smi-mesh.io/inbound-port": "15001"},
        },
        "spec": {
            "serviceAccountName": sa,
            "containers": [{"name": "app", "image": "app", "ports": [{"containerPort": 8080}]}],
        },
        "status": {"podIP": ip, "phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }


def service(name: str, *, app: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"selector": {"app": app}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
    }


def split(name: str, *, weights: dict[str, int], generation: int = 1, matches: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "service": "api",
        "backends": [{"service": svc, "weight": w} for svc, w in weights.items()],
    }
    if matches:
        spec["matches"] = [{"kind": "HTTPRouteGroup", "name": "api-routes"}]
    return {
        "apiVersion": "split.smi-spec.io/v1alpha4",
        "kind": "TrafficSplit",
        "metadata": {"name": name, "namespace": NS, "generation": generation},
        "spec": spec,
    }


def target(name: str = "web-to-api", *, generation: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "access.smi-spec.io/v1alpha3",
        "kind": "TrafficTarget",
        "metadata": {"name": name, "namespace": NS, "generation": generation},
        "spec": {
            "destination": {"kind": "ServiceAccount", "name": "api", "namespace": NS},
            "sources": [{"kind": "ServiceAccount", "name": "web", "namespace": NS}],
            "rules": [{"kind": "HTTPRouteGroup", "name": "api-routes", "matches": ["all"]}],
        },
    }


def routes(name: str = "api-routes") -> dict[str, Any]:
    return {
        "apiVersion": "specs.smi-spec.io/v1alpha4",
        "kind": "HTTPRouteGroup",
        "metadata": {"name": name, "namespace": NS, "generation": 1},
        "spec": {"matches": [{"name": "all", "pathRegex": ".*", "methods": ["*"]}]},
    }


async def install_app(mesh: Any) -> None:
    """web-1 (client, SA web), api-v1-1 / api-v2-1 (SA api), services api, api-v1, api-v2."""
    await mesh.create("/api/v1/namespaces", namespace())
    for sa in ("web", "api"):
        await mesh.create(SAS, service_account(sa))
    await mesh.create(PODS, pod("web-1", app="web", sa="web", ip="127.0.10.1"))
    await mesh.create(PODS, pod("api-v1-1", app="api-v1", sa="api", ip="127.0.10.2"))
    await mesh.create(PODS, pod("api-v2-1", app="api-v2", sa="api", ip="127.0.10.3"))
    for name, app in (("api", "api-v1"), ("api-v1", "api-v1"), ("api-v2", "api-v2")):
        await mesh.create(SERVICES, service(name, app=app))
