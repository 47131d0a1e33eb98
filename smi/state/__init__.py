"""The resource state: one store, immutable versioned snapshots.

Two sources write the store and nothing else does: the kopf handlers (cluster mode) and
the manifest loader (local runtime).  Readers only ever see a ``Snapshot``.
"""

from smi.state.snapshot import Snapshot
from smi.state.store import Store

__all__ = ["Snapshot", "Store"]
