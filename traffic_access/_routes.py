"""Statuses of the traffic specs (HTTPRouteGroup, TCPRoute, UDPRoute).

A route describes traffic; it has effect only through the TrafficTargets and
TrafficSplits that name it.  It is accepted unless none of its matches is usable; its
message says who uses it, or that nobody does yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from smi.compile import status as st
from smi.compile.index import MeshIndex
from smi.compile.matches import group_matches
from smi.model import HTTPRouteGroup, ObjectKey, TCPRoute, UDPRoute, key_of


def route_statuses(
    index: MeshIndex, *, references: Sequence[Mapping[ObjectKey, tuple[ObjectKey, ...]]]
) -> dict[ObjectKey, st.ObjectStatus]:
    statuses: dict[ObjectKey, st.ObjectStatus] = {}
    routes: list[HTTPRouteGroup | TCPRoute | UDPRoute] = [
        *index.route_groups.values(),
        *index.tcp_routes.values(),
        *index.udp_routes.values(),
    ]
    for route in routes:
        key = key_of(route)
        users = sorted({str(ref) for refs in references for ref in refs.get(key, ())})
        summary = f"used by {', '.join(users)}." if users else "not referenced by any TrafficTarget or TrafficSplit."
        problems: tuple[st.Problem, ...] = ()
        applied = True
        if isinstance(route, HTTPRouteGroup):
            usable = group_matches(index, route)
            problems = usable.problems
            applied = bool(usable.matches) or not route.matches
        status = st.status_from(
            title=f"{key.kind} {key.namespace}/{key.name}",
            applied=applied,
            problems=problems,
            generation=route.meta.generation,
            summary=summary,
        )
        statuses[key] = status
    return statuses
