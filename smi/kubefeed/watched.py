"""A Kubernetes resource the controller watches: API group, version, plural, hub kind."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from smi.compile.groups import GroupKind


@dataclass(frozen=True, slots=True)
class Watched:
    group: str  # "" for the core API
    version: str
    plural: str
    kind: str  # the hub kind (``smi.model``'s ``KIND``)
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, *, namespace: str, name: str, subresource: str = "") -> str:
        """The REST path of one object (of ``subresource`` when given)."""
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        where = f"/namespaces/{namespace}" if self.namespaced else ""
        tail = f"/{subresource}" if subresource else ""
        return f"{root}{where}/{self.plural}/{name}{tail}"


def watches(kinds: tuple[GroupKind, ...], *, versions: Mapping[str, str]) -> tuple[Watched, ...]:
    """One ``Watched`` per group kind, at the version ``versions`` names for it (else its newest).

    A version the kind does not serve is a ValueError naming the kind and what is served.
    """
    watched = []
    for gk in kinds:
        version = versions.get(gk.kind) or gk.newest
        if version not in gk.versions:
            raise ValueError(f"{gk.kind}: version {version!r} is not served (served: {', '.join(gk.versions)})")
        watched.append(Watched(gk.api_group, version, gk.plural, gk.kind))
    return tuple(watched)
