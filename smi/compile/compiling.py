"""The compile driver: snapshot + proxy identity → ProxyConfig, and snapshot → object statuses.

A ``Compiler`` is made once by a composition root (the controller, the local runtime)
with the mesh settings and the groups (``smi.groups.MESH_GROUPS``), and handed to
whoever compiles: the publisher (``compile_proxy``), the status writer and the local
runtime's control API (``statuses``).  It is the only holder of compile state: its
``IndexCache`` of the last snapshots' indexes.  Everything it calls is pure.  The one
side effect: a problem found while compiling a proxy's config that the config cannot carry
(an invalid monitoring annotation) is logged as a warning, once per distinct problem.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from smi.compile.caching import IndexCache
from smi.compile.groups import Group
from smi.compile.inbound import inbound_for
from smi.compile.index import MeshIndex
from smi.compile.monitoring import pod_level
from smi.compile.outbound import outbound_for
from smi.compile.plans import MeshPlan, mesh_plan, plan_statuses
from smi.compile.settings import MeshSettings
from smi.compile.status import ObjectStatus
from smi.model import ObjectKey
from smi.proxyconfig.types import ProxyConfig, ProxyNode
from smi.state import Snapshot

logger = logging.getLogger(__name__)
_WARNED_LIMIT = 1000  # distinct problems remembered (so each is logged once)


class Compiler:
    """Mesh settings + groups + an index cache.  ``cache``: share or inspect one (tests, benchmarks)."""

    def __init__(self, settings: MeshSettings, groups: Sequence[Group], *, cache: IndexCache | None = None) -> None:
        names = [g.name for g in groups]
        if len(set(names)) != len(names):
            raise ValueError(f"groups: every group needs its own name, got {names}")
        self.settings = settings
        self.groups: tuple[Group, ...] = tuple(groups)
        self.cache = cache if cache is not None else IndexCache()
        self.warned: set[str] = set()

    def index(self, snapshot: Snapshot) -> MeshIndex:
        return self.cache.index(snapshot, self.settings)

    def plan(self, snapshot: Snapshot) -> tuple[MeshIndex, MeshPlan]:
        index = self.index(snapshot)
        return index, mesh_plan(index, self.groups)

    def compile_proxy(self, snapshot: Snapshot, *, namespace: str, pod: str) -> ProxyConfig | None:
        """The config of the sidecar next to pod ``namespace/pod``; None when the pod is unknown."""
        index, plan = self.plan(snapshot)
        found = index.pods.get((namespace, pod))
        if found is None:
            return None
        identity = index.identity_of(found)
        node = ProxyNode(
            namespace=namespace,
            pod=pod,
            service_account=found.spec.service_account,
            identity=identity,
            address=found.pod_ip or "",
            workload=index.workload_of(found),
        )
        monitoring = pod_level(index, found)
        if monitoring.problem is not None and monitoring.problem not in self.warned:
            if len(self.warned) >= _WARNED_LIMIT:
                self.warned.clear()
            self.warned.add(monitoring.problem)
            logger.warning("%s", monitoring.problem)
        return ProxyConfig(
            node=node,
            trust_domain=self.settings.trust_domain,
            outbound=outbound_for(index, plan, namespace=namespace, identity=identity),
            inbound=inbound_for(index, plan, found),
            egress=self.settings.egress,
            monitoring=monitoring.level,
        )

    def statuses(self, snapshot: Snapshot) -> Mapping[ObjectKey, ObjectStatus]:
        """The status of every object of every group in the snapshot (in key order)."""
        index, plan = self.plan(snapshot)
        return plan_statuses(index, plan)
