"""The policy.smi-mesh.io group as the compile driver sees it (``smi.compile.groups``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from smi.compile.groups import Contribution, GroupKind, References
from smi.compile.index import MeshIndex
from smi.compile.status import ObjectStatus
from smi.model import ObjectKey
from smi.policy.compile import POLICY_DEPENDS, compile_policies
from smi.schemas import policy as schema

KINDS: Final = (
    GroupKind(schema.GROUP, "upstreamtrafficpolicies", "UpstreamTrafficPolicy", schema.VERSIONS),
    GroupKind(schema.GROUP, "ratelimitpolicies", "RateLimitPolicy", schema.VERSIONS),
)


class PolicyGroup:
    """Caller-side resilience per cluster, destination-side rate limits; statuses of both kinds."""

    name: Final = schema.GROUP
    kinds: Final = KINDS
    depends: Final = POLICY_DEPENDS

    def contribute(self, index: MeshIndex) -> Contribution:
        return compile_policies(index)

    def statuses(
        self, index: MeshIndex, own: Contribution, referenced_by: References
    ) -> Mapping[ObjectKey, ObjectStatus]:
        return own.statuses


GROUP: Final = PolicyGroup()
