"""The feed: Kubernetes bodies in, hub objects into the store (or a recorded rejection).

Handlers call ``accept(body)`` for every listed, created or changed object and
``remove(...)`` for deleted ones; that is all they do.  A body that does not parse is
*rejected*: the store keeps the previous good version of that object (if any), the
rejection (problem text, generation) is kept for the status writer, and the caller posts
a Kubernetes Event and a log line.

Resync (a controller start or restart): between ``begin_sync()`` and ``end_sync()`` the
feed notes every key it sees; ``end_sync()`` deletes from the store every object of a
watched kind that was not seen (deleted while no controller was watching).  Objects are
stored without ``resourceVersion`` so that a status write (which bumps it) is not a change.

Likewise an SMI object that differs from the stored one only in ``api_version`` is not a
change: the same object seen through another served version (e.g. after the watched
version was changed) must not recompile every proxy.  The stored object, and so the
spelling of field paths in its status messages, stays until the object really changes.
The controller watches one version per kind (``smi.controllers.kinds``), so this is a safety net.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from smi.errors import InvalidObject
from smi.kubefeed.watched import Watched
from smi.model import ObjectKey, Resource, key_of
from smi.model.parsing import parse
from smi.state import Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Rejection:
    message: str  # one line per problem, as ``InvalidObject`` prints them
    generation: int | None


Listener = Callable[[], None]


def key_from_body(body: Mapping[str, Any], *, kind: str) -> ObjectKey:
    meta = body.get("metadata") or {}
    return ObjectKey(kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))


class Feed:
    def __init__(self, *, store: Store, kinds: tuple[Watched, ...]) -> None:
        self.store = store
        self.kinds = kinds
        self.rejections: dict[ObjectKey, Rejection] = {}
        self.locations: dict[ObjectKey, Watched] = {}  # where each object was last seen (for status writes)
        self._seen: set[ObjectKey] | None = None
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener()`` whenever the set of rejections changes."""
        self._listeners.append(listener)

    def accept(self, body: Mapping[str, Any], *, where: Watched) -> Rejection | None:
        """Parse ``body`` and store it.

        Returns the rejection when the body is invalid *and* that rejection is news (not the
        same problem at the same generation as last time), so callers report it once.
        """
        key = key_from_body(body, kind=where.kind)
        self.locations[key] = where
        if self._seen is not None:
            self._seen.add(key)
        raw = dict(body)
        raw.setdefault("apiVersion", where.api_version)
        raw.setdefault("kind", where.kind)
        try:
            obj = parse(raw, source="kubernetes")
        except InvalidObject as exc:
            generation = (body.get("metadata") or {}).get("generation")
            rejection = Rejection(message=str(exc), generation=generation if isinstance(generation, int) else None)
            if self.rejections.get(key) == rejection:
                return None
            self.rejections[key] = rejection
            self._notify()
            return rejection
        obj = _without_resource_version(obj)
        if not _same_but_version(self.store.get(key_of(obj)), obj):
            self.store.apply(obj)
        if self.rejections.pop(key, None) is not None:
            self._notify()
        return None

    def remove(self, body: Mapping[str, Any], *, where: Watched) -> None:
        key = key_from_body(body, kind=where.kind)
        self.store.delete(key)
        self.locations.pop(key, None)
        if self.rejections.pop(key, None) is not None:
            self._notify()

    # -- resync ------------------------------------------------------------------------

    @property
    def syncing(self) -> bool:
        return self._seen is not None

    def begin_sync(self) -> None:
        self._seen = set()

    def end_sync(self) -> int:
        """Drop what was not seen since ``begin_sync()``; returns how many objects were dropped."""
        if self._seen is None:
            return 0
        seen, self._seen = self._seen, None
        kinds = {w.kind for w in self.kinds}
        stale = [k for k in self.store.snapshot().keys() if k.kind in kinds and k not in seen]  # noqa: SIM118
        for key in stale:
            self.store.delete(key)
            self.locations.pop(key, None)
        for key in [k for k in self.rejections if k not in seen]:
            del self.rejections[key]
        if stale:
            logger.info("Resync dropped %d object(s) deleted while not watching", len(stale))
        return len(stale)

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()


def _same_but_version(stored: Resource | None, obj: Resource) -> bool:
    """Whether ``obj`` equals ``stored`` but for its ``api_version`` (SMI kinds carry one)."""
    if stored is None or type(stored) is not type(obj) or not hasattr(obj, "api_version"):
        return False
    if stored == obj:
        return True
    version: str = getattr(stored, "api_version", "")
    same: bool = dataclasses.replace(cast(Any, obj), api_version=version) == stored
    return same


def _without_resource_version(obj: Resource) -> Resource:
    if obj.meta.resource_version is None:
        return obj
    meta = dataclasses.replace(obj.meta, resource_version=None)
    stored: Resource = dataclasses.replace(obj, meta=meta)
    return stored


__all__ = ["Feed", "Rejection", "key_from_body", "key_of"]
