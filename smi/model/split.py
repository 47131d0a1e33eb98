"""TrafficSplit (split.smi-spec.io v1alpha1..v1alpha4) as one hub type."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from smi.model.meta import ObjectMeta


@dataclass(frozen=True, slots=True)
class TypedRef:
    """A same-namespace reference (``spec.matches[]`` of a TrafficSplit): kind and name."""

    kind: str
    name: str
    api_group: str | None = None


@dataclass(frozen=True, slots=True)
class SplitBackend:
    """One backend Service and its relative weight.

    ``weight`` is exact: v1alpha1 quantities (``500m``) are ``Decimal("0.5")``, later
    versions' integers are whole decimals.  Shares are ``weight / sum(weights)``.
    """

    service: str
    weight: Decimal


@dataclass(frozen=True, slots=True)
class TrafficSplit:
    KIND: ClassVar[str] = "TrafficSplit"
    GROUP: ClassVar[str] = "split.smi-spec.io"
    VERSIONS: ClassVar[tuple[str, ...]] = ("v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4")

    meta: ObjectMeta
    service: str
    backends: tuple[SplitBackend, ...] = ()
    matches: tuple[TypedRef, ...] = ()
    api_version: str = "split.smi-spec.io/v1alpha4"
