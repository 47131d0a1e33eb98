"""The TrafficTarget group (access.smi-spec.io), with the traffic specs it uses (specs.smi-spec.io:
HTTPRouteGroup, TCPRoute, UDPRoute), as the compile driver sees it (``smi.compile.groups``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from smi.compile.groups import Contribution, GroupKind, References
from smi.compile.index import MeshIndex
from smi.compile.status import ObjectStatus
from smi.model import HTTPRouteGroup, ObjectKey, TCPRoute, TrafficTarget, UDPRoute
from smi.schemas import access, specs
from traffic_access.compile import compile_targets
from traffic_access.routes import route_statuses

KINDS: Final = (
    GroupKind(access.GROUP, "traffictargets", "TrafficTarget", access.VERSIONS),
    GroupKind(specs.GROUP, "httproutegroups", "HTTPRouteGroup", specs.VERSIONS),
    GroupKind(specs.GROUP, "tcproutes", "TCPRoute", specs.VERSIONS),
    GroupKind(specs.GROUP, "udproutes", "UDPRoute", specs.UDP_VERSIONS),
)
ACCESS_KINDS: Final = frozenset({TrafficTarget.KIND, HTTPRouteGroup.KIND, TCPRoute.KIND, UDPRoute.KIND})


class AccessGroup:
    """Allow rules per destination identity and who may reach whom; statuses of targets and routes."""

    name: Final = access.GROUP
    kinds: Final = KINDS
    depends: Final = ACCESS_KINDS

    def contribute(self, index: MeshIndex) -> Contribution:
        return compile_targets(index)

    def statuses(
        self, index: MeshIndex, own: Contribution, referenced_by: References
    ) -> Mapping[ObjectKey, ObjectStatus]:
        found = dict(own.statuses)
        found.update(route_statuses(index, referenced_by=referenced_by))
        return found


GROUP: Final = AccessGroup()
