"""The compile driver: snapshot + proxy identity → ProxyConfig, and snapshot → object statuses.

Pure: no I/O, no clock.  The only state is ``DEFAULT_CACHE``, an explicit IndexCache of the
last snapshots' indexes (pass ``cache=IndexCache()`` to keep your own).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from smi.compile.caching import IndexCache
from smi.compile.inbound import inbound_for
from smi.compile.outbound import outbound_for
from smi.compile.plans import access_plan, split_plan
from smi.compile.settings import MeshSettings
from smi.compile.status import ObjectStatus
from smi.model import ObjectKey
from smi.proxyconfig.types import ProxyConfig, ProxyNode
from smi.state import Snapshot
from traffic_access._routes import route_statuses

DEFAULT_CACHE = IndexCache()


def compile_proxy(
    snapshot: Snapshot,
    *,
    namespace: str,
    pod: str,
    settings: MeshSettings,
    cache: IndexCache | None = None,
) -> ProxyConfig | None:
    """The config of the sidecar next to pod ``namespace/pod``; None when the pod is unknown."""
    index = (cache or DEFAULT_CACHE).index(snapshot, settings)
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
    return ProxyConfig(
        node=node,
        trust_domain=settings.trust_domain,
        outbound=outbound_for(index, namespace=namespace, identity=identity),
        inbound=inbound_for(index, found),
        egress=settings.egress,
    )


def object_statuses(
    snapshot: Snapshot,
    *,
    settings: MeshSettings | None = None,
    cache: IndexCache | None = None,
) -> Mapping[ObjectKey, ObjectStatus]:
    """The status of every SMI object in the snapshot (TrafficSplits, TrafficTargets, routes)."""
    index = (cache or DEFAULT_CACHE).index(snapshot, settings or MeshSettings())
    splits, access = split_plan(index), access_plan(index)
    statuses: dict[ObjectKey, ObjectStatus] = {}
    statuses.update(splits.statuses)
    statuses.update(access.statuses)
    statuses.update(route_statuses(index, references=[splits.references, access.references]))
    return MappingProxyType(dict(sorted(statuses.items())))
