"""The set of kinds the mesh knows, and the union type of their hub objects."""

from __future__ import annotations

from typing import TypeAlias

from smi.model.access import TrafficTarget
from smi.model.core import (
    Deployment,
    Endpoints,
    EndpointSlice,
    Namespace,
    Pod,
    ReplicaSet,
    Service,
    ServiceAccount,
)
from smi.model.meta import ObjectKey
from smi.model.policy import RateLimitPolicy, UpstreamTrafficPolicy
from smi.model.specs import HTTPRouteGroup, TCPRoute, UDPRoute
from smi.model.split import TrafficSplit

Resource: TypeAlias = (
    TrafficSplit
    | TrafficTarget
    | HTTPRouteGroup
    | TCPRoute
    | UDPRoute
    | UpstreamTrafficPolicy
    | RateLimitPolicy
    | Namespace
    | ServiceAccount
    | Service
    | Pod
    | Deployment
    | ReplicaSet
    | Endpoints
    | EndpointSlice
)

ResourceKind: TypeAlias = (
    type[TrafficSplit]
    | type[TrafficTarget]
    | type[HTTPRouteGroup]
    | type[TCPRoute]
    | type[UDPRoute]
    | type[UpstreamTrafficPolicy]
    | type[RateLimitPolicy]
    | type[Namespace]
    | type[ServiceAccount]
    | type[Service]
    | type[Pod]
    | type[Deployment]
    | type[ReplicaSet]
    | type[Endpoints]
    | type[EndpointSlice]
)

SMI_KINDS: dict[str, ResourceKind] = {
    cls.KIND: cls for cls in (TrafficSplit, TrafficTarget, HTTPRouteGroup, TCPRoute, UDPRoute)
}
POLICY_KINDS: dict[str, ResourceKind] = {cls.KIND: cls for cls in (UpstreamTrafficPolicy, RateLimitPolicy)}
"""The mesh's own kinds (policy.smi-mesh.io): not SMI, but they travel the same path."""
CORE_KINDS: dict[str, ResourceKind] = {
    cls.KIND: cls for cls in (Namespace, ServiceAccount, Service, Pod, Deployment, ReplicaSet, Endpoints, EndpointSlice)
}
CLUSTER_SCOPED: frozenset[str] = frozenset({"Namespace"})


def key_of(obj: Resource) -> ObjectKey:
    """The store key of a hub object."""
    return ObjectKey(type(obj).KIND, obj.meta.namespace, obj.meta.name)
