"""Traffic specs (specs.smi-spec.io v1alpha1..v1alpha4): HTTPRouteGroup, TCPRoute, UDPRoute."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from smi.model.meta import ObjectMeta


@dataclass(frozen=True, slots=True)
class HTTPMatch:
    """One named match of an HTTPRouteGroup.

    ``path_regex`` None and ``methods`` empty add no constraint; ``headers`` are
    ``(lower-cased name, regex)`` pairs, all of which must match (AND).
    """

    name: str
    path_regex: str | None = None
    methods: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class HTTPRouteGroup:
    KIND: ClassVar[str] = "HTTPRouteGroup"
    GROUP: ClassVar[str] = "specs.smi-spec.io"
    VERSIONS: ClassVar[tuple[str, ...]] = ("v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4")

    meta: ObjectMeta
    matches: tuple[HTTPMatch, ...] = ()
    api_version: str = "specs.smi-spec.io/v1alpha4"


@dataclass(frozen=True, slots=True)
class TCPRoute:
    """``ports`` empty means every port of the destination (v1alpha1..v1alpha3 have no ports at all)."""

    KIND: ClassVar[str] = "TCPRoute"
    GROUP: ClassVar[str] = "specs.smi-spec.io"
    VERSIONS: ClassVar[tuple[str, ...]] = ("v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4")

    meta: ObjectMeta
    ports: tuple[int, ...] = ()
    api_version: str = "specs.smi-spec.io/v1alpha4"


@dataclass(frozen=True, slots=True)
class UDPRoute:
    """``ports`` empty means every port of the destination."""

    KIND: ClassVar[str] = "UDPRoute"
    GROUP: ClassVar[str] = "specs.smi-spec.io"
    VERSIONS: ClassVar[tuple[str, ...]] = ("v1alpha4",)

    meta: ObjectMeta
    ports: tuple[int, ...] = ()
    api_version: str = "specs.smi-spec.io/v1alpha4"
