"""The pure compile: an immutable Snapshot and a proxy's identity in, its ProxyConfig out.

::

    Snapshot ──► MeshIndex (once per snapshot + settings; caching.IndexCache)
                   ├─► each Group.contribute(index) → Contribution   (groups: smi.compile.groups)
                   │     merged into a MeshPlan (plans)                e.g. traffic_split, traffic_access
                   └─► per proxy: outbound (services it may reach + clusters + split routes)
                                  inbound  (ports, allow rules for its identity, peers)

``Compiler`` (settings + groups + cache) is the driver; the composition roots make it.
No I/O, no clock, no kopf/aiohttp/kubernetes, no module-global state, and no import of
a group package.  Every SMI ambiguity is decided once in docs/semantics.md; the modules
that apply a decision say so in their docstrings.
"""

from smi.compile.caching import IndexCache
from smi.compile.compiling import Compiler
from smi.compile.groups import Contribution, Group, GroupKind
from smi.compile.index import APP_ADDRESS_ANNOTATION, INBOUND_PORT_ANNOTATION, LB_POLICY_ANNOTATION, MeshIndex
from smi.compile.settings import MeshSettings
from smi.compile.status import ObjectStatus

__all__ = [
    "APP_ADDRESS_ANNOTATION",
    "INBOUND_PORT_ANNOTATION",
    "LB_POLICY_ANNOTATION",
    "Compiler",
    "Contribution",
    "Group",
    "GroupKind",
    "IndexCache",
    "MeshIndex",
    "MeshSettings",
    "ObjectStatus",
]
