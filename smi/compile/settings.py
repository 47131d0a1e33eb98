"""Mesh-wide settings the compile step reads (the only input besides the snapshot and the proxy)."""

from __future__ import annotations

from dataclasses import dataclass, field

from smi.proxyconfig.types import LB_ROUND_ROBIN, EgressPolicy


@dataclass(frozen=True, slots=True)
class MeshSettings:
    """What a mesh operator chooses once for the whole mesh.

    ``permissive``: allow every caller everywhere and give every proxy every service (like
    OSM's permissive traffic policy mode); TrafficTargets are then not enforced.
    ``app_address``: where apps listen by default (a pod may override it with the annotation
    ``smi-mesh.io/app-address``; the local runtime runs apps on their pod IP).
    ``egress``: what captured traffic to destinations outside the mesh may reach; copied
    as is into every ProxyConfig (``proxy.capture`` enforces it).
    """

    trust_domain: str = "cluster.local"
    permissive: bool = False
    cluster_domain: str = "cluster.local"
    app_address: str = "127.0.0.1"
    lb_policy: str = LB_ROUND_ROBIN
    connect_timeout_ms: int = 1000
    request_timeout_ms: int = 15000
    egress: EgressPolicy = field(default_factory=EgressPolicy)
