"""The TrafficSplit group (split.smi-spec.io) as the compile driver sees it (``smi.compile.groups``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from smi.compile.groups import Contribution, GroupKind, References
from smi.compile.index import MeshIndex
from smi.compile.status import ObjectStatus
from smi.model import ObjectKey
from smi.schemas import split as schema
from traffic_split.compile import SPLIT_KINDS, compile_splits

KINDS: Final = (GroupKind(schema.GROUP, "trafficsplits", "TrafficSplit", schema.VERSIONS),)


class SplitGroup:
    """Weighted routes on root Services; statuses of TrafficSplits."""

    name: Final = schema.GROUP
    kinds: Final = KINDS
    depends: Final = SPLIT_KINDS

    def contribute(self, index: MeshIndex) -> Contribution:
        return compile_splits(index)

    def statuses(
        self, index: MeshIndex, own: Contribution, referenced_by: References
    ) -> Mapping[ObjectKey, ObjectStatus]:
        return own.statuses


GROUP: Final = SplitGroup()
