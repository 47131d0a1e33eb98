"""Monitoring levels in the local runtime: the level endpoint's store, kept as an overlay.

``smi monitor`` and the page set a Namespace's or a Deployment's ``smi-mesh.io/monitoring``
annotation through the control API (``traffic_metrics.levels``).  The runtime keeps each
such setting as an overlay on the stored object, not in the manifest files: it is laid over
the object every time the desired objects are computed, so it survives manifest reloads
and ``smi apply`` until it is changed or cleared (``level: null``, then the object's own
annotation, if any, applies again).  Annotations on a Deployment's metadata are not part
of its pod template: switching a level restarts no pod; the sidecars get the new level
with their next config.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from smi.compile.monitoring import MONITORING_ANNOTATION, Level, namespace_level, workload_level
from smi.model import Deployment, Namespace, ObjectKey, ObjectMeta, Resource
from smi.state import Snapshot
from traffic_metrics.levels import LevelError, Target, item

if TYPE_CHECKING:
    from smi.runtime.running import LocalRuntime

Overlay = Mapping[ObjectKey, str]


def key_for(target: Target) -> ObjectKey:
    if target.kind == Namespace.KIND:
        return ObjectKey(Namespace.KIND, "", target.name)
    return ObjectKey(target.kind, target.namespace, target.name)


def _annotated(obj: Resource, level: str) -> Resource:
    meta = obj.meta
    annotations = {**meta.annotations, MONITORING_ANNOTATION: level}
    return dataclasses.replace(obj, meta=dataclasses.replace(meta, annotations=annotations))


def lay_over(objects: MutableMapping[ObjectKey, Resource], overlay: Overlay) -> None:
    """Put the overlay's levels on the desired objects (a Namespace named only by its objects is made)."""
    for key, level in overlay.items():
        obj = objects.get(key)
        if obj is None and key.kind == Namespace.KIND:
            obj = Namespace(meta=ObjectMeta(name=key.name))
        if obj is not None:
            objects[key] = _annotated(obj, level)


def _namespaces(snapshot: Snapshot) -> set[str]:
    return {n.meta.name for n in snapshot.all(Namespace)} | {d.meta.namespace for d in snapshot.all(Deployment)}


class LocalLevels:
    """``traffic_metrics.levels.Levels`` over the runtime's store; ``apply`` sets the overlay and syncs."""

    def __init__(self, runtime: LocalRuntime, apply: Callable[[ObjectKey, str | None], None]) -> None:
        self.runtime = runtime  # its store, compiler and overlay are read
        self.apply = apply

    def _item(self, target: Target, snapshot: Snapshot) -> dict[str, Any]:
        index = self.runtime.compiler.index(snapshot)
        found: Resource | None = snapshot.objects.get(target.kind, {}).get((key_for(target).namespace, target.name))
        if target.kind == Namespace.KIND:
            level: Level = namespace_level(index, target.name)
        else:
            level = workload_level(index, target.namespace, target.name)
        annotations = found.meta.annotations if found is not None else {}
        return {**item(target, annotations, level.level, level.source, level.problem),
                "overlay": key_for(target) in self.runtime.monitoring}  # fmt: skip

    async def levels(self, request: web.Request, namespace: str | None) -> list[dict[str, Any]]:
        snapshot: Snapshot = self.runtime.store.snapshot()
        targets = [Target(Namespace.KIND, ns, ns) for ns in sorted(_namespaces(snapshot))]
        targets += [Target(Deployment.KIND, d.meta.namespace, d.meta.name) for d in snapshot.all(Deployment)]
        return [self._item(t, snapshot) for t in targets if namespace is None or t.namespace == namespace]

    async def set_level(self, request: web.Request, target: Target, level: str | None) -> dict[str, Any]:
        snapshot: Snapshot = self.runtime.store.snapshot()
        known = (
            target.name in _namespaces(snapshot)
            if target.kind == Namespace.KIND
            else (target.namespace, target.name) in snapshot.objects.get(target.kind, {})
        )
        if not known:
            raise LevelError(404, f"{target}: not found in the local mesh")
        self.apply(key_for(target), level)
        return self._item(target, self.runtime.store.snapshot())
