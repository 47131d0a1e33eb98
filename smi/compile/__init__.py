"""The pure compile: an immutable Snapshot and a proxy's identity in, its ProxyConfig out.

::

    Snapshot ──► MeshIndex (once per snapshot + settings; caching.IndexCache)
                   ├─► traffic_split.compile   → SplitPlan   (routes per root port, statuses)
                   ├─► traffic_access.compile  → AccessPlan  (rules per identity, statuses)
                   └─► per proxy: outbound (services it may reach + clusters)
                                  inbound  (ports, rules for its identity, peers)

No I/O, no clock, no kopf/aiohttp/kubernetes.  Every SMI ambiguity is decided once in
docs/semantics.md; the modules that apply a decision say so in their docstrings.
"""

from smi.compile.caching import IndexCache
from smi.compile.compiling import DEFAULT_CACHE, compile_proxy, object_statuses
from smi.compile.identities import spiffe_id
from smi.compile.index import APP_ADDRESS_ANNOTATION, INBOUND_PORT_ANNOTATION, LB_POLICY_ANNOTATION, MeshIndex
from smi.compile.settings import MeshSettings
from smi.compile.status import ObjectStatus

__all__ = [
    "APP_ADDRESS_ANNOTATION",
    "DEFAULT_CACHE",
    "INBOUND_PORT_ANNOTATION",
    "LB_POLICY_ANNOTATION",
    "IndexCache",
    "MeshIndex",
    "MeshSettings",
    "ObjectStatus",
    "compile_proxy",
    "object_statuses",
    "spiffe_id",
]
