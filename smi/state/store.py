"""The one writable place: apply and delete hub objects, take snapshots.

The store is synchronous and cheap: ``apply``/``delete`` copy one kind's bucket
(copy-on-write), so a snapshot taken before a change never sees it.  Whoever wants to
react to changes (the compile driver) registers a listener; listeners are called after
each change with the new version and must not block (they typically set an event).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import MappingProxyType

from smi.model import ObjectKey, Resource, key_of
from smi.state.snapshot import Snapshot

Listener = Callable[[int], None]


class Store:
    def __init__(self) -> None:
        self._buckets: dict[str, MappingProxyType[tuple[str, str], Resource]] = {}
        self._version = 0
        self._listeners: list[Listener] = []
        self._snapshot: Snapshot | None = None

    @property
    def version(self) -> int:
        return self._version

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(version)`` after every change; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def apply(self, obj: Resource) -> bool:
        """Insert or replace ``obj``; returns False (changing nothing) when equal to what is stored."""
        key = key_of(obj)
        bucket = self._buckets.get(key.kind, MappingProxyType({}))
        if bucket.get((key.namespace, key.name)) == obj:
            return False
        new = dict(bucket)
        new[(key.namespace, key.name)] = obj
        self._buckets[key.kind] = MappingProxyType(new)
        self._changed()
        return True

    def delete(self, key: ObjectKey) -> bool:
        """Remove the object at ``key``; returns False when there was none."""
        bucket = self._buckets.get(key.kind)
        if bucket is None or (key.namespace, key.name) not in bucket:
            return False
        new = dict(bucket)
        del new[(key.namespace, key.name)]
        self._buckets[key.kind] = MappingProxyType(new)
        self._changed()
        return True

    def replace_kind(self, kind: str, objects: Iterable[Resource]) -> bool:
        """Make ``objects`` the whole content of ``kind`` (a resync); returns whether anything changed."""
        new = {(key_of(o).namespace, key_of(o).name): o for o in objects}
        old: dict[tuple[str, str], Resource] = dict(self._buckets.get(kind, MappingProxyType({})))
        if old == new:
            return False
        self._buckets[kind] = MappingProxyType(new)
        self._changed()
        return True

    def get(self, key: ObjectKey) -> Resource | None:
        bucket = self._buckets.get(key.kind)
        return None if bucket is None else bucket.get((key.namespace, key.name))

    def snapshot(self) -> Snapshot:
        if self._snapshot is None or self._snapshot.version != self._version:
            self._snapshot = Snapshot(version=self._version, objects=MappingProxyType(dict(self._buckets)))
        return self._snapshot

    def _changed(self) -> None:
        self._version += 1
        for listener in list(self._listeners):
            listener(self._version)
