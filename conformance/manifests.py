"""The Kubernetes + SMI manifests the scenarios apply, built as data and written as YAML.

The same text goes to both drivers: Deployments carry an ``image`` (the project's image,
``$SMI_CONFORMANCE_IMAGE``, default ``smi-mesh:latest``) for a cluster and a ``command``
that the local runtime runs as a process.  Apps listen on ``$POD_IP`` when it is set (the
local runtime sets it) and on every address otherwise (a pod in a cluster).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

IMAGE = os.environ.get("SMI_CONFORMANCE_IMAGE", "smi-mesh:latest")
HTTP_PORT = 8080
UDP_PORT = 9053
TCP_PORT = 9000

Obj = dict[str, Any]


def documents(*objs: Obj) -> str:
    """A multi-document YAML text."""
    return "---\n".join(yaml.safe_dump(obj, sort_keys=False) for obj in objs)


def service_account(namespace: str, name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}}


def service(namespace: str, name: str, selector: Mapping[str, str], *, tcp: bool = False) -> Obj:
    port: Obj = (
        {"name": "tcp-echo", "port": TCP_PORT, "targetPort": TCP_PORT, "appProtocol": "tcp"}
        if tcp
        else {"name": "http", "port": HTTP_PORT, "targetPort": HTTP_PORT}
    )
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": dict(selector), "ports": [port]},
    }


def deployment(
    namespace: str,
    name: str,
    *,
    account: str,
    labels: Mapping[str, str],
    module: str,
    port: int,
    env: Mapping[str, str] | None = None,
) -> Obj:
    """One replica of ``python -m <module>`` running as ``account``."""
    variables = {"PORT": str(port), **(env or {})}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "serviceAccountName": account,
                    "containers": [
                        {
                            "name": "app",
                            "image": IMAGE,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["python", "-m", module],
                            "ports": [{"containerPort": port}],
                            "env": [{"name": k, "value": v} for k, v in variables.items()],
                        }
                    ],
                },
            },
        },
    }


def server(namespace: str, name: str, *, account: str, labels: Mapping[str, str]) -> Obj:
    """The conformance HTTP server; it answers with its Deployment name."""
    return deployment(
        namespace,
        name,
        account=account,
        labels=labels,
        module="conformance.apps.server",
        port=HTTP_PORT,
        env={"WORKLOAD": name},
    )


def tool(namespace: str, name: str, *, account: str) -> Obj:
    """The conformance tool (a client in the mesh), running as ``account``."""
    return deployment(
        namespace, name, account=account, labels={"app": name}, module="conformance.apps.tool", port=HTTP_PORT
    )


def server_workload(namespace: str, name: str) -> tuple[Obj, Obj, Obj]:
    """The conformance server as a scenario calls it: its own ServiceAccount, Service and
    Deployment, all named ``name``, its pods labelled ``app: <name>``."""
    labels = {"app": name}
    return (
        service_account(namespace, name),
        service(namespace, name, labels),
        server(namespace, name, account=name, labels=labels),
    )


def client_workload(namespace: str, name: str) -> tuple[Obj, Obj]:
    """The conformance tool ``name`` running as its own ServiceAccount ``name``."""
    return service_account(namespace, name), tool(namespace, name, account=name)


def echo(namespace: str, name: str, *, account: str, labels: Mapping[str, str]) -> Obj:
    """The demo line-echo TCP server; it prefixes answers with its Deployment name."""
    return deployment(
        namespace,
        name,
        account=account,
        labels=labels,
        module="smi.demo.tcpecho",
        port=TCP_PORT,
        env={"ECHO_NAME": name},
    )


def http_route_group(namespace: str, name: str, matches: Sequence[Mapping[str, Any]]) -> Obj:
    return {
        "apiVersion": "specs.smi-spec.io/v1alpha4",
        "kind": "HTTPRouteGroup",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"matches": [dict(m) for m in matches]},
    }


def udp_service(namespace: str, name: str, selector: Mapping[str, str]) -> Obj:
    """A Service with one UDP port, ``UDP_PORT``."""
    obj = service(namespace, name, selector)
    obj["spec"]["ports"] = [{"name": "udp-echo", "port": UDP_PORT, "targetPort": UDP_PORT, "protocol": "UDP"}]
    return obj


def udp_echo(namespace: str, name: str, *, account: str, labels: Mapping[str, str]) -> Obj:
    """The demo UDP echo server (``smi.demo.udpecho``); it prefixes answers with its Deployment name."""
    obj = deployment(
        namespace, name, account=account, labels=labels, module="smi.demo.udpecho", port=UDP_PORT,
        env={"ECHO_NAME": name},
    )  # fmt: skip
    obj["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": UDP_PORT, "protocol": "UDP"}]
    return obj


def udp_route(namespace: str, name: str, ports: Sequence[int]) -> Obj:
    route = tcp_route(namespace, name, ports)
    route["kind"] = "UDPRoute"
    return route


def tcp_route(namespace: str, name: str, ports: Sequence[int]) -> Obj:
    return {
        "apiVersion": "specs.smi-spec.io/v1alpha4",
        "kind": "TCPRoute",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"matches": {"ports": list(ports)}},
    }


def rule(kind: str, name: str, matches: Sequence[str] | None = None) -> Obj:
    return {"kind": kind, "name": name, **({"matches": list(matches)} if matches is not None else {})}


def traffic_target(namespace: str, name: str, *, destination: str, sources: Sequence[str], rules: Sequence[Obj]) -> Obj:
    """An access.smi-spec.io/v1alpha3 TrafficTarget between ServiceAccounts of ``namespace``."""
    return {
        "apiVersion": "access.smi-spec.io/v1alpha3",
        "kind": "TrafficTarget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "destination": {"kind": "ServiceAccount", "name": destination, "namespace": namespace},
            "rules": list(rules),
            "sources": [{"kind": "ServiceAccount", "name": s, "namespace": namespace} for s in sources],
        },
    }


def traffic_split(
    namespace: str,
    name: str,
    *,
    root: str,
    backends: Mapping[str, int | str],
    api_version: str = "split.smi-spec.io/v1alpha4",
    match_groups: Sequence[str] = (),
) -> Obj:
    spec: Obj = {"service": root, "backends": [{"service": s, "weight": w} for s, w in backends.items()]}
    if match_groups:
        spec["matches"] = [{"kind": "HTTPRouteGroup", "name": g} for g in match_groups]
    return {
        "apiVersion": api_version,
        "kind": "TrafficSplit",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
