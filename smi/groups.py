"""The API groups this mesh serves, in compile order: the list the composition roots hand on.

The controller (``smi.controllers.operator``) and the local runtime (``smi.runtime``)
make their ``smi.compile.Compiler`` from ``MESH_GROUPS``; the controller also watches
each group's kinds.  A new group package adds its ``GROUP`` here (see
``smi.compile.groups`` and docs/architecture.md).
"""

from __future__ import annotations

from typing import Final

from smi.compile.groups import Group
from smi.policy.group import GROUP as POLICY
from traffic_access.group import GROUP as ACCESS
from traffic_metrics.group import GROUP as METRICS
from traffic_split.group import GROUP as SPLIT

MESH_GROUPS: Final[tuple[Group, ...]] = (SPLIT, ACCESS, METRICS, POLICY)
