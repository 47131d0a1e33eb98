"""The Kubernetes resources the controller watches: API group, version, plural, hub kind.

Core kinds at ``v1``; each SMI kind at ONE version (``WATCHED_VERSIONS``: the storage
version, i.e. the newest served), see below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from smi.model import SMI_KINDS
from smi.schemas import SERVED


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


CORE: tuple[Watched, ...] = (
    Watched("", "v1", "namespaces", "Namespace", namespaced=False),
    Watched("", "v1", "serviceaccounts", "ServiceAccount"),
    Watched("", "v1", "services", "Service"),
    Watched("", "v1", "pods", "Pod"),
    Watched("", "v1", "endpoints", "Endpoints"),
    Watched("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
    Watched("apps", "v1", "deployments", "Deployment"),
)

# One watched version per SMI kind.  The API server converts every stored object to
# whichever served version a client asks for (the CRDs' conversion webhook, ``/convert``),
# so watching one version sees every object exactly once, whatever version it was written
# in.  Watching every served version would deliver each object once per version, each
# delivery a hub object with a different ``api_version``: needless store changes and
# recompiles.  The version watched is the storage (newest) version of each CRD; a setting
# (``WATCHED_VERSIONS``; ``ControllerSettings.smi_versions`` for a cluster whose CRDs
# serve something else) rather than a loop over ``SERVED_VERSIONS``.
SERVED_VERSIONS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {kind: tuple(v.rpartition("/")[2] for v in SERVED[kind]) for kind in SMI_KINDS}
)  # kind -> served versions, oldest first (as the CRDs serve them)
WATCHED_VERSIONS: Final[Mapping[str, str]] = MappingProxyType(
    {kind: versions[-1] for kind, versions in SERVED_VERSIONS.items()}
)

SPLIT_RESOURCES = (("split.smi-spec.io", "trafficsplits", "TrafficSplit"),)
ACCESS_RESOURCES = (
    ("access.smi-spec.io", "traffictargets", "TrafficTarget"),
    ("specs.smi-spec.io", "httproutegroups", "HTTPRouteGroup"),
    ("specs.smi-spec.io", "tcproutes", "TCPRoute"),
    ("specs.smi-spec.io", "udproutes", "UDPRoute"),
)


def smi_watches(
    resources: tuple[tuple[str, str, str], ...], *, versions: Mapping[str, str] = WATCHED_VERSIONS
) -> tuple[Watched, ...]:
    """One ``Watched`` per (group, plural, kind), at the version ``versions`` names for the kind.

    A kind ``versions`` does not name is watched at its default (``WATCHED_VERSIONS``); a
    version the CRD does not serve is a ValueError naming the kind and what is served.
    """
    watched = []
    for group, plural, kind in resources:
        version = versions.get(kind) or WATCHED_VERSIONS[kind]
        if version not in SERVED_VERSIONS[kind]:
            served = ", ".join(SERVED_VERSIONS[kind])
            raise ValueError(f"{kind}: version {version!r} is not served (served: {served})")
        watched.append(Watched(group, version, plural, kind))
    return tuple(watched)


SPLIT: tuple[Watched, ...] = smi_watches(SPLIT_RESOURCES)
ACCESS: tuple[Watched, ...] = smi_watches(ACCESS_RESOURCES)

ALL: tuple[Watched, ...] = CORE + SPLIT + ACCESS
