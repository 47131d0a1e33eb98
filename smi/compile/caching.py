"""An explicit, small cache of MeshIndexes, keyed by the snapshot object and the settings.

The compile is a pure function of (snapshot, settings, proxy); indexing a snapshot is the
expensive part, so the driver keeps the indexes of the last few snapshots.  Entries are
found by snapshot *identity* (``is``), never by version number alone, so two different
snapshots with the same version (e.g. built by hand in tests) never share an index.  The
cache holds the snapshots it indexes; its size bounds that memory.

A new snapshot is indexed incrementally from the most recently used index with the same
settings (``MeshIndex(..., previous=...)``): what depends only on kinds that did not
change between the two snapshots is taken over, so a change to one TrafficSplit does not
re-resolve every service's endpoints.  ``incremental=False`` always indexes from scratch.
"""

from __future__ import annotations

from smi.compile.index import MeshIndex
from smi.compile.settings import MeshSettings
from smi.state import Snapshot


class IndexCache:
    def __init__(self, size: int = 4, *, incremental: bool = True) -> None:
        self._size = max(1, size)
        self._incremental = incremental
        self._entries: list[MeshIndex] = []

    def index(self, snapshot: Snapshot, settings: MeshSettings) -> MeshIndex:
        for i, entry in enumerate(self._entries):
            if entry.snapshot is snapshot and entry.settings == settings:
                if i:
                    self._entries.insert(0, self._entries.pop(i))
                return entry
        previous = None
        if self._incremental:
            previous = next((e for e in self._entries if e.settings == settings), None)
        built = MeshIndex(snapshot, settings, previous=previous)
        self._entries.insert(0, built)
        del self._entries[self._size :]
        return built

    def clear(self) -> None:
        self._entries.clear()
