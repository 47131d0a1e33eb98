"""TrafficTarget (access.smi-spec.io v1alpha1..v1alpha3) as one hub type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from smi.model.meta import ObjectMeta


@dataclass(frozen=True, slots=True)
class IdentityRef:
    """A subject: ``kind`` is ``ServiceAccount``; ``namespace`` is None when the manifest omits it."""

    kind: str
    name: str
    namespace: str | None = None


@dataclass(frozen=True, slots=True)
class RuleRef:
    """A rule naming a traffic spec (``rules[]``, ``specs[]`` in v1alpha1).

    ``matches`` is None when the manifest omits it, which means every match of the group.
    """

    kind: str
    name: str
    matches: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class TrafficTarget:
    KIND: ClassVar[str] = "TrafficTarget"
    GROUP: ClassVar[str] = "access.smi-spec.io"
    VERSIONS: ClassVar[tuple[str, ...]] = ("v1alpha1", "v1alpha2", "v1alpha3")

    meta: ObjectMeta
    destination: IdentityRef
    sources: tuple[IdentityRef, ...] = ()
    rules: tuple[RuleRef, ...] = ()
    destination_port: int | None = None  # v1alpha1/v1alpha2 only; kept through conversion
    api_version: str = "access.smi-spec.io/v1alpha3"
