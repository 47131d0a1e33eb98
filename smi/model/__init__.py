"""The typed, immutable internal model of every SMI kind and of the core objects the mesh needs.

One hub type per kind, independent of the API version it was read from.  Parsing
(``smi.model.parsing``) turns a raw manifest of any served version into a hub object;
rendering (``smi.model.rendering``) turns a hub object into a raw manifest of a chosen
version.  Conversion between versions is ``render(parse(raw), to=version)``.

This package imports nothing from kopf, aiohttp or kubernetes, and does no I/O.
"""

from smi.model.access import IdentityRef, RuleRef, TrafficTarget
from smi.model.core import (
    Container,
    ContainerPort,
    Deployment,
    EndpointAddress,
    EndpointPort,
    Endpoints,
    EndpointSlice,
    EnvVar,
    Namespace,
    Pod,
    PodSpec,
    ReplicaSet,
    Service,
    ServiceAccount,
    ServicePort,
)
from smi.model.meta import ObjectKey, ObjectMeta, OwnerReference, freeze
from smi.model.resources import CLUSTER_SCOPED, CORE_KINDS, POLICY_KINDS, SMI_KINDS, Resource, ResourceKind, key_of
from smi.model.specs import HTTPMatch, HTTPRouteGroup, TCPRoute, UDPRoute
from smi.model.split import SplitBackend, TrafficSplit, TypedRef

__all__ = [
    "CLUSTER_SCOPED",
    "CORE_KINDS",
    "POLICY_KINDS",
    "SMI_KINDS",
    "Container",
    "ContainerPort",
    "Deployment",
    "EndpointAddress",
    "EndpointPort",
    "EndpointSlice",
    "Endpoints",
    "EnvVar",
    "HTTPMatch",
    "HTTPRouteGroup",
    "IdentityRef",
    "Namespace",
    "ObjectKey",
    "ObjectMeta",
    "OwnerReference",
    "Pod",
    "PodSpec",
    "ReplicaSet",
    "Resource",
    "ResourceKind",
    "RuleRef",
    "Service",
    "ServiceAccount",
    "ServicePort",
    "SplitBackend",
    "TCPRoute",
    "TrafficSplit",
    "TrafficTarget",
    "TypedRef",
    "UDPRoute",
    "freeze",
    "key_of",
]
