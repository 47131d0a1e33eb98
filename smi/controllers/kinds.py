"""The Kubernetes resources the controller watches: API group, version, plural, hub kind."""

from __future__ import annotations

from dataclasses import dataclass


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

SPLIT: tuple[Watched, ...] = tuple(
    Watched("split.smi-spec.io", v, "trafficsplits", "TrafficSplit")
    for v in ("v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4")
)

ACCESS: tuple[Watched, ...] = (
    *(
        Watched("access.smi-spec.io", v, "traffictargets", "TrafficTarget")
        for v in ("v1alpha1", "v1alpha2", "v1alpha3")
    ),
    *(
        Watched("specs.smi-spec.io", v, plural, kind)
        for v in ("v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4")
        for plural, kind in (("httproutegroups", "HTTPRouteGroup"), ("tcproutes", "TCPRoute"))
    ),
    Watched("specs.smi-spec.io", "v1alpha4", "udproutes", "UDPRoute"),
)

ALL: tuple[Watched, ...] = CORE + SPLIT + ACCESS
