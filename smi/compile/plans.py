"""The per-snapshot results of the SMI groups, computed once per MeshIndex.

traffic_split and traffic_access each contribute a plan (their compiled objects and
statuses); every proxy's config is cut from these shared plans.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from types import MappingProxyType

from smi.compile.endpoints import service_endpoints
from smi.compile.index import ACCESS_KINDS, ENDPOINT_KINDS, SPLIT_KINDS, Key, MeshIndex
from traffic_access.compile import AccessPlan, compile_targets
from traffic_split.compile import SplitPlan, compile_splits


def split_plan(index: MeshIndex) -> SplitPlan:
    return index.memo("split-plan", lambda: compile_splits(index), depends=SPLIT_KINDS)


def access_plan(index: MeshIndex) -> AccessPlan:
    return index.memo("access-plan", lambda: compile_targets(index), depends=ACCESS_KINDS)


def services_by_identity(index: MeshIndex) -> Mapping[str, frozenset[Key]]:
    """SPIFFE id -> the services with at least one endpoint running as that identity."""

    def build() -> Mapping[str, frozenset[Key]]:
        found: dict[str, set[Key]] = defaultdict(set)
        for key, svc in index.services.items():
            for eps in service_endpoints(index, svc).values():
                for ep in eps:
                    if ep.identity:
                        found[ep.identity].add(key)
        return MappingProxyType({k: frozenset(v) for k, v in found.items()})

    return index.memo("services-by-identity", build, depends=ENDPOINT_KINDS)
