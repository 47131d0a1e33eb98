"""Pure outbound routing: which cluster serves this request to this service port.

The SplitRoutes of the port are tried in order; the first whose matches match (no matches
= every request) picks a backend by smooth weighted round-robin.  When no split applies,
the root service's own cluster serves the request.  A split that applies but has no
backend of weight > 0 is an error (503), not a fall-through: the user asked for that
traffic to be split and none of it may silently go elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from proxy.compiled import ClusterState, PortRoute, any_match
from proxy.headers import RequestHead


@dataclass(frozen=True, slots=True)
class RouteDecision:
    cluster: ClusterState | None  # None: nothing can serve it (reason says why)
    route: str = ""  # the split route's name, "" for the root cluster
    backend: str = ""  # the backend service picked by a split, "" without a split
    reason: str = ""


def route(head: RequestHead | None, port: PortRoute) -> RouteDecision:
    """Pick the cluster for one request (``head`` None for opaque TCP: only match-less splits apply)."""
    for split in port.splits:
        if split.matches and (head is None or not any_match(split.matches, head)):
            continue
        backend = split.picker.pick()
        if backend is None:
            return RouteDecision(None, split.name, "", f"traffic split {split.name} has no backend with weight > 0")
        return RouteDecision(backend.state, split.name, backend.service)
    if port.root is None:
        return RouteDecision(None, "", "", f"service {port.namespace}/{port.service}:{port.port} has no cluster")
    return RouteDecision(port.root)
