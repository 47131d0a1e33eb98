"""The one interface between the compile driver and the API groups it compiles.

Every group package (``traffic_split``, ``traffic_access``, ``traffic_metrics``, and the
mesh's own ``policy.smi-mesh.io`` group) owns its group end to end and exposes ONE object
satisfying ``Group``, conventionally ``<package>.group.GROUP``.  The composition roots (the
controller, the local runtime; the list is ``smi.groups.MESH_GROUPS``) hand the list to
``smi.compile.Compiler``; nothing in ``smi.compile`` imports a group package.

::

    Snapshot ─► MeshIndex ─► group.contribute(index) ─► Contribution  (one per group, memoised
                   │                                        │          in the index by ``depends``)
                   │                  merged, in list order ┘
                   └─► per proxy: outbound (services it may reach, clusters, split routes)
                                  inbound  (ports, allow rules for its identity, peers)
              statuses: group.statuses(index, own, referenced_by) for every group, merged

A group:

* ``name``: a short unique name (``"split.smi-spec.io"``), the key of its memo entry.
* ``kinds``: the kinds it owns, each with the versions it serves (oldest first).  The
  controller watches each at ONE version (the newest by default, see
  ``smi.controllers.kinds``); the group's ``handlers`` module registers them with kopf.
  A group that watches nothing (``traffic_metrics``, the read side) has ``()``.
* ``depends``: every hub kind (``smi.model`` ``KIND``) ``contribute`` reads.  An incremental
  index reuses the last contribution while none of them changed, so leaving a kind out
  gives stale configs.  ``ENDPOINT_KINDS`` (below) are what Services' endpoints derive from.
* ``contribute(index)``: PURE (no I/O, no clock, no globals): the group's effect on every
  proxy config of the snapshot, as a ``Contribution``.  Errors are data: an object that
  cannot be applied is skipped and its problem recorded in ``statuses``.  It may use the
  index's lookups and memo (``index.objects(Kind)``, ``index.by_name(Kind)``,
  ``index.memo(...)``), ``smi.compile.endpoints.service_endpoints``,
  ``smi.compile.naming``, ``smi.compile.status``.
* ``statuses(index, own, referenced_by)``: the status (``Accepted`` condition) of each of
  its objects.  ``own`` is its contribution; ``referenced_by`` merges every group's
  ``references`` (object named -> objects naming it), so a group whose objects are used by
  others (``traffic_access`` owns the HTTPRouteGroups that TrafficSplits name) can say who
  uses them.

A ``Contribution`` has one field per way a group can affect proxies; every field defaults
to empty.  A new kind of effect (e.g. per-cluster resilience policies) is a new field with
an empty default here, plus the few lines in the driver that merge it and cut it into
each proxy's config (``smi.compile.outbound`` / ``inbound``): existing groups need no
change.  Merging: ``routes`` per root service by the first group that routes it (list
order), ``allow`` concatenated per identity, ``reach`` and ``route_services`` united,
``references`` concatenated, ``resilience`` per service by the first group that sets it,
``rate_limits`` concatenated per service.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Protocol

from smi.compile.index import ENDPOINT_KINDS, Key, MeshIndex
from smi.compile.status import ObjectStatus
from smi.model import ObjectKey
from smi.proxyconfig.resilience import ClusterResilience, InboundRateLimit
from smi.proxyconfig.types import AllowRule, SplitRoute

__all__ = ["ENDPOINT_KINDS", "Contribution", "Group", "GroupKind", "Key", "References"]

References = Mapping[ObjectKey, tuple[ObjectKey, ...]]  # object named -> objects naming it


@dataclass(frozen=True, slots=True)
class GroupKind:
    """One kind a group owns: ``trafficsplits`` of ``split.smi-spec.io`` is hub kind ``TrafficSplit``."""

    api_group: str
    plural: str
    kind: str  # the hub kind (``smi.model``'s ``KIND``)
    versions: tuple[str, ...]  # served versions, oldest first (``v1alpha1``, ...)

    @property
    def newest(self) -> str:
        return self.versions[-1]


def _empty() -> Mapping[object, object]:
    return _EMPTY


_EMPTY: Final[Mapping[object, object]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one group adds to the proxy configs of one snapshot (every field may stay empty)."""

    # root service (ns, name) -> service port -> split routes, in the order they are tried
    routes: Mapping[Key, Mapping[int, tuple[SplitRoute, ...]]] = field(default_factory=_empty)  # type: ignore[arg-type]
    # root service -> the services its routes send to (a caller that may reach one reaches all)
    route_services: Mapping[Key, frozenset[Key]] = field(default_factory=_empty)  # type: ignore[arg-type]
    # destination SPIFFE id -> the allow rules its sidecar enforces
    allow: Mapping[str, tuple[AllowRule, ...]] = field(default_factory=_empty)  # type: ignore[arg-type]
    # source SPIFFE id -> the destination identities it may call (what its outbound config lists)
    reach: Mapping[str, frozenset[str]] = field(default_factory=_empty)  # type: ignore[arg-type]
    # the statuses the group knows after compiling (``Group.statuses`` returns the final ones)
    statuses: Mapping[ObjectKey, ObjectStatus] = field(default_factory=_empty)  # type: ignore[arg-type]
    # object named (e.g. an HTTPRouteGroup) -> this group's objects naming it
    references: References = field(default_factory=_empty)  # type: ignore[arg-type]
    # service -> service port -> the caller-side resilience of its cluster (policy.smi-mesh.io)
    resilience: Mapping[Key, Mapping[int, ClusterResilience]] = field(default_factory=_empty)  # type: ignore[arg-type]
    # service -> the rate limits the sidecars of its endpoints apply (ports are target ports)
    rate_limits: Mapping[Key, tuple[InboundRateLimit, ...]] = field(default_factory=_empty)  # type: ignore[arg-type]


class Group(Protocol):
    """An API group as the compile driver sees it (see the module docstring)."""

    @property
    def name(self) -> str: ...

    @property
    def kinds(self) -> tuple[GroupKind, ...]: ...

    @property
    def depends(self) -> frozenset[str]: ...

    def contribute(self, index: MeshIndex) -> Contribution: ...

    def statuses(
        self, index: MeshIndex, own: Contribution, referenced_by: References
    ) -> Mapping[ObjectKey, ObjectStatus]: ...
