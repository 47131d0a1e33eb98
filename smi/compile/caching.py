"""An explicit, small cache of MeshIndexes, keyed by the snapshot object and the settings.

The compile is a pure function of (snapshot, settings, proxy); indexing a snapshot is the
expensive part, so the driver keeps the indexes of the last few snapshots.  Entries are
found by snapshot *identity* (``is``), never by version number alone, so two different
snapshots with the same version (e.g. built by hand in tests) never share an index.  The
cache holds the snapshots it indexes; its size bounds that memory.
"""

from __future__ import annotations

from smi.compile.index import MeshIndex
from smi.compile.settings import MeshSettings
from smi.state import Snapshot


class IndexCache:
    def __init__(self, size: int = 4) -> None:
        self._size = max(1, size)
        self._entries: list[MeshIndex] = []

    def index(self, snapshot: Snapshot, settings: MeshSettings) -> MeshIndex:
        for i, entry in enumerate(self._entries):
            if entry.snapshot is snapshot and entry.settings == settings:
                if i:
                    self._entries.insert(0, self._entries.pop(i))
                return entry
        built = MeshIndex(snapshot, settings)
        self._entries.insert(0, built)
        del self._entries[self._size :]
        return built

    def clear(self) -> None:
        self._entries.clear()
