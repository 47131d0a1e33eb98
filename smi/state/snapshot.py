"""An immutable, versioned view of every resource the mesh knows."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar

from smi.model import ObjectKey, Resource

R = TypeVar("R")

_EMPTY: Mapping[str, Mapping[tuple[str, str], Resource]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Snapshot:
    """``objects[kind][(namespace, name)]``; ``version`` grows by one with every change to the store."""

    version: int = 0
    objects: Mapping[str, Mapping[tuple[str, str], Resource]] = field(default_factory=lambda: _EMPTY)

    def get(self, kind: type[R], namespace: str, name: str) -> R | None:
        obj = self.objects.get(kind.KIND, {}).get((namespace, name))  # type: ignore[attr-defined]
        return obj if obj is not None else None  # type: ignore[return-value]

    def all(self, kind: type[R], namespace: str | None = None) -> Iterator[R]:
        """Every object of ``kind`` (in ``namespace`` when given), in (namespace, name) order."""
        bucket = self.objects.get(kind.KIND, {})  # type: ignore[attr-defined]
        for (ns, _name), obj in sorted(bucket.items(), key=lambda kv: kv[0]):
            if namespace is None or ns == namespace:
                yield obj  # type: ignore[misc]

    def count(self) -> int:
        return sum(len(b) for b in self.objects.values())

    def keys(self) -> Iterator[ObjectKey]:
        for kind, bucket in self.objects.items():
            for ns, name in bucket:
                yield ObjectKey(kind, ns, name)
