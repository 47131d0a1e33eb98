"""Tap in a cluster: which sidecars a tap request reaches, and how (``smi metrics-api``).

The pods of the tapped workload come from the topology the metrics API lists from the API
server (``traffic_metrics.cluster``): running, meshed pods with an address.  Each one is
reached at ``podIP:tap_port``, the sidecar's tap listener, over mutual TLS: the metrics
API presents its own workload certificate (its ServiceAccount's SPIFFE id, the one
identity the sidecar serves tap to) and requires the pod's ServiceAccount identity back.
How a connection is made is the caller's ``connect`` (the CLI wires the mesh's
``connect_mesh`` with the metrics API's certificate; ``traffic_metrics`` never imports the
sidecar).  Also here: the tap group's discovery documents, which the aggregator reads.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from smi.proxyconfig.spiffe import spiffe_id
from traffic_metrics.groupdiscovery import Resource, add_group_discovery
from traffic_metrics.tapfanin import PLURALS, TAP_GROUP, Connection, Openers
from traffic_metrics.topology import PodInfo, Topology

# (host, port, the SPIFFE id the sidecar must prove) -> an open stream
Connect = Callable[[str, int, str], Awaitable[Connection]]
KINDS: Final = {"deployments": "Deployment", "statefulsets": "StatefulSet", "daemonsets": "DaemonSet"}
DEFAULT_TAP_PORT: Final = 15002


def _selected(pod: PodInfo, plural: str, name: str) -> bool:
    if plural == "pods":
        return pod.name == name
    return pod.workload_kind == KINDS.get(plural) and pod.workload == name


def cluster_openers(
    topology: Callable[[], Topology], connect: Connect, *, tap_port: int = DEFAULT_TAP_PORT, trust_domain: str
) -> Openers:
    """One opener per running, meshed pod of ``(namespace, plural, name)``."""

    def openers(namespace: str, plural: str, name: str) -> list[Callable[[], Awaitable[Connection]]]:
        pods = [
            p for p in topology().pods.values()
            if p.namespace == namespace and p.address and p.metrics_url and _selected(p, plural, name)
        ]  # fmt: skip
        return [
            functools.partial(connect, p.address, tap_port, spiffe_id(trust_domain, p.namespace, p.service_account))
            for p in sorted(pods, key=lambda p: p.name)
        ]

    return openers


TAP_RESOURCES: Final = tuple(Resource(f"{plural}/tap", "Tap", True, ("watch",)) for plural in sorted(PLURALS))


def add_tap_discovery(app: web.Application) -> None:
    """``/apis/tap.smi-mesh.io[/v1alpha1]`` from memory (discovery is never authorized per user)."""
    add_group_discovery(app, TAP_GROUP, TAP_RESOURCES)


__all__ = ["DEFAULT_TAP_PORT", "TAP_RESOURCES", "Connect", "add_tap_discovery", "cluster_openers"]
