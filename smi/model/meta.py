"""Object metadata and keys shared by every kind."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

EMPTY: Mapping[str, str] = MappingProxyType({})


def freeze(value: Mapping[str, str] | None) -> Mapping[str, str]:
    """Return a read-only copy of a string mapping (``EMPTY`` for None or empty)."""
    if not value:
        return EMPTY
    return MappingProxyType(dict(value))


class ObjectKey(NamedTuple):
    """Identifies one object in the store: ``(kind, namespace, name)``; namespace is "" when cluster-scoped."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


@dataclass(frozen=True, slots=True)
class OwnerReference:
    """One ``metadata.ownerReferences`` entry: the object that made this one (``controller``: the one managing it)."""

    kind: str
    name: str
    api_version: str = ""
    controller: bool = False


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    name: str
    namespace: str = ""
    labels: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    annotations: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    generation: int | None = None
    resource_version: str | None = None
    uid: str | None = None
    owner_references: tuple[OwnerReference, ...] = ()

    def controller(self) -> OwnerReference | None:
        """The owner reference marked ``controller`` (Kubernetes allows one), else None."""
        return next((ref for ref in self.owner_references if ref.controller), None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", freeze(self.labels))
        object.__setattr__(self, "annotations", freeze(self.annotations))

    def __hash__(self) -> int:
        return hash((self.name, self.namespace, tuple(sorted(self.labels.items()))))
