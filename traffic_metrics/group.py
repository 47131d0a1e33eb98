"""The metrics group (metrics.smi-spec.io) as the compile driver sees it (``smi.compile.groups``).

traffic_metrics is the read side: TrafficMetrics are computed from the sidecars'
measurements and served, not watched, so the group owns no watched kind and contributes
nothing to proxy configs.  It is in the list so that every group has the same shape and
a metrics-driven contribution has its place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from smi.compile.groups import Contribution, GroupKind, References
from smi.compile.index import MeshIndex
from smi.compile.status import ObjectStatus
from smi.model import ObjectKey

NAME: Final = "metrics.smi-spec.io"
_NOTHING: Final = Contribution()


class MetricsGroup:
    name: Final = NAME
    kinds: Final[tuple[GroupKind, ...]] = ()
    depends: Final[frozenset[str]] = frozenset()

    def contribute(self, index: MeshIndex) -> Contribution:
        return _NOTHING

    def statuses(
        self, index: MeshIndex, own: Contribution, referenced_by: References
    ) -> Mapping[ObjectKey, ObjectStatus]:
        return {}


GROUP: Final = MetricsGroup()
