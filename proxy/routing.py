"""Pure outbound routing: which cluster serves this request to this service port.

The SplitRoutes of the port are tried in order; the first whose matches match (no matches
= every request) picks a backend by smooth weighted round-robin.  When no split applies,
the root service's own cluster serves the request.  A split that applies but has no
backend of weight > 0 is an error (503), not a fall-through: the user asked for that
traffic to be split and none of it may silently go elsewhere.

Every decision returned is one built when the config was compiled (no allocation per
request), so callers may use its identity as a cache key.
"""

from __future__ import annotations

from proxy.compiled import Backend, PortRoute, RouteDecision, any_match
from proxy.headers import RequestHead
from proxy.resilience.selecting import usable
from proxy.runtime import ConfigRuntime


def route(head: RequestHead | None, port: PortRoute, runtime: ConfigRuntime) -> RouteDecision:
    """Pick the cluster for one request (``head`` None for opaque TCP: only match-less splits apply).

    ``runtime`` holds the split pickers of the config ``port`` belongs to.  Only decides:
    the caller counts the request where the decision sends it.
    """
    for split in port.splits:
        if split.matches and (head is None or not any_match(split.matches, head)):
            continue
        picker = runtime.split_pickers[split.slot]
        backend = picker.pick()
        if backend is None:
            return split.no_backend
        if not _usable(runtime, backend):
            # A backend whose endpoints are all ejected or unhealthy gives its share to the
            # others (docs/semantics.md, row 35); when none is usable the split stays as written.
            for _ in range(len(split.backends)):
                other = picker.pick()
                if other is not None and _usable(runtime, other):
                    return other.decision
        return backend.decision
    return port.root_decision


def _usable(runtime: ConfigRuntime, backend: Backend) -> bool:
    guard = runtime.guards[backend.state.slot]
    health = guard.health
    if not guard.outliers.any_ejected and (health is None or not health.any_unhealthy):
        return True
    return usable(guard.endpoints, guard.outliers, health)


__all__ = ["RouteDecision", "route"]
