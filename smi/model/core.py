"""The core Kubernetes objects the mesh needs, reduced to the fields it uses.

Namespace, ServiceAccount, Service, Pod, Deployment, ReplicaSet, Endpoints and EndpointSlice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from smi.model.meta import EMPTY, ObjectMeta, freeze


@dataclass(frozen=True, slots=True)
class Namespace:
    KIND: ClassVar[str] = "Namespace"
    API_VERSION: ClassVar[str] = "v1"
    meta: ObjectMeta


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    KIND: ClassVar[str] = "ServiceAccount"
    API_VERSION: ClassVar[str] = "v1"
    meta: ObjectMeta


@dataclass(frozen=True, slots=True)
class ServicePort:
    """``target_port`` is a number or a container port name; ``app_protocol`` e.g. ``http``, ``tcp``."""

    port: int
    name: str = ""
    target_port: int | str | None = None  # None: same as port
    protocol: str = "TCP"
    app_protocol: str | None = None


@dataclass(frozen=True, slots=True)
class Service:
    KIND: ClassVar[str] = "Service"
    API_VERSION: ClassVar[str] = "v1"
    meta: ObjectMeta
    ports: tuple[ServicePort, ...] = ()
    selector: Mapping[str, str] | None = None  # None: no selector (endpoints managed by hand)
    cluster_ip: str | None = None
    type: str = "ClusterIP"

    def __post_init__(self) -> None:
        if self.selector is not None:
            object.__setattr__(self, "selector", freeze(self.selector))


@dataclass(frozen=True, slots=True)
class EnvVar:
    """An environment variable: a literal ``value`` or a downward-API ``field_ref`` (e.g. ``status.podIP``)."""

    name: str
    value: str | None = None
    field_ref: str | None = None


@dataclass(frozen=True, slots=True)
class ContainerPort:
    container_port: int
    name: str = ""
    protocol: str = "TCP"


@dataclass(frozen=True, slots=True)
class Container:
    name: str
    image: str = ""
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: tuple[EnvVar, ...] = ()
    ports: tuple[ContainerPort, ...] = ()
    working_dir: str | None = None


@dataclass(frozen=True, slots=True)
class PodSpec:
    service_account: str = "default"
    containers: tuple[Container, ...] = ()


@dataclass(frozen=True, slots=True)
class Pod:
    KIND: ClassVar[str] = "Pod"
    API_VERSION: ClassVar[str] = "v1"
    meta: ObjectMeta
    spec: PodSpec = field(default_factory=PodSpec)
    pod_ip: str | None = None
    phase: str = "Pending"
    ready: bool = False


@dataclass(frozen=True, slots=True)
class Deployment:
    KIND: ClassVar[str] = "Deployment"
    API_VERSION: ClassVar[str] = "apps/v1"
    meta: ObjectMeta
    replicas: int = 1
    selector: Mapping[str, str] = field(default_factory=lambda: EMPTY)  # matchLabels
    template_labels: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    template_annotations: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    template: PodSpec = field(default_factory=PodSpec)

    def __post_init__(self) -> None:
        object.__setattr__(self, "selector", freeze(self.selector))
        object.__setattr__(self, "template_labels", freeze(self.template_labels))
        object.__setattr__(self, "template_annotations", freeze(self.template_annotations))


@dataclass(frozen=True, slots=True)
class ReplicaSet:
    """A ReplicaSet, metadata only: its controller (a Deployment, an Argo Rollout) names its pods' workload."""

    KIND: ClassVar[str] = "ReplicaSet"
    API_VERSION: ClassVar[str] = "apps/v1"
    meta: ObjectMeta


@dataclass(frozen=True, slots=True)
class EndpointAddress:
    """One address of an Endpoints subset or EndpointSlice; ``pod`` names the target Pod when known."""

    ip: str
    ready: bool = True
    pod: str | None = None
    namespace: str | None = None


@dataclass(frozen=True, slots=True)
class EndpointPort:
    port: int
    name: str = ""
    protocol: str = "TCP"
    app_protocol: str | None = None


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Endpoints (v1), flattened: the union of its subsets.  Its name is the Service's name."""

    KIND: ClassVar[str] = "Endpoints"
    API_VERSION: ClassVar[str] = "v1"
    meta: ObjectMeta
    subsets: tuple[tuple[tuple[EndpointAddress, ...], tuple[EndpointPort, ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class EndpointSlice:
    """EndpointSlice (discovery.k8s.io/v1); ``service`` comes from label ``kubernetes.io/service-name``."""

    KIND: ClassVar[str] = "EndpointSlice"
    API_VERSION: ClassVar[str] = "discovery.k8s.io/v1"
    meta: ObjectMeta
    service: str = ""
    address_type: str = "IPv4"
    endpoints: tuple[EndpointAddress, ...] = ()
    ports: tuple[EndpointPort, ...] = ()
