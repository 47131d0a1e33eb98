"""Statuses of the traffic specs (HTTPRouteGroup, TCPRoute, UDPRoute).

A route describes traffic; it has effect only through the TrafficTargets and
TrafficSplits that name it.  It is accepted unless none of its matches is usable; its
message says who uses it, or that nobody does yet.
"""

from __future__ import annotations

from smi.compile import status as st
from smi.compile.groups import References
from smi.compile.index import MeshIndex
from smi.model import HTTPRouteGroup, ObjectKey, TCPRoute, UDPRoute, key_of
from traffic_access.matches import group_matches


def route_statuses(index: MeshIndex, *, referenced_by: References) -> dict[ObjectKey, st.ObjectStatus]:
    """``referenced_by``: every group's references (route -> the objects naming it)."""
    statuses: dict[ObjectKey, st.ObjectStatus] = {}
    routes: list[HTTPRouteGroup | TCPRoute | UDPRoute] = [
        *index.objects(HTTPRouteGroup),
        *index.objects(TCPRoute),
        *index.objects(UDPRoute),
    ]
    for route in routes:
        key = key_of(route)
        users = sorted({str(ref) for ref in referenced_by.get(key, ())})
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
