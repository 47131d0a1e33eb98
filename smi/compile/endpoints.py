"""Service → endpoints: the ready instances behind each port of a Service.

Where endpoints come from (decided once, docs/semantics.md "Endpoints"):

1. EndpointSlices labelled with the service's name, when there is at least one;
2. else the Endpoints object of the same name, when there is one;
3. else the Pods the Service's selector picks that have an IP and are ready or Running.

Slices and Endpoints carry target ports already; their ports are matched to the service
port by name (Kubernetes names them alike).  With the selector, the target port is the
service port's numeric ``targetPort``, a named ``targetPort`` looked up in the pod's
container ports (a pod without that port name is skipped for that port, as Kubernetes
does), or the port itself.  Each endpoint carries the identity of its pod (from the pod's
ServiceAccount) and the pod's sidecar port, so callers know where and whom they reach.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from smi.compile.index import ENDPOINT_KINDS, MeshIndex
from smi.model import EndpointAddress, EndpointPort, Pod, Service, ServicePort
from smi.proxyconfig.types import Endpoint

PortEndpoints = Mapping[int, tuple[Endpoint, ...]]  # service port number -> endpoints


def service_endpoints(index: MeshIndex, service: Service) -> PortEndpoints:
    """The endpoints of every port of ``service`` (memoised in the index)."""
    key = ("endpoints", service.meta.namespace, service.meta.name)
    return index.memo(key, lambda: _resolve(index, service), depends=ENDPOINT_KINDS)


def _resolve(index: MeshIndex, service: Service) -> PortEndpoints:
    ns, name = service.meta.namespace, service.meta.name
    slices = index.slices.get((ns, name))
    result: dict[int, tuple[Endpoint, ...]]
    if slices:
        groups = [(s.endpoints, s.ports) for s in slices]
        result = _from_groups(index, service, groups)
    elif (ns, name) in index.endpoints_objects:
        result = _from_groups(index, service, index.endpoints_objects[(ns, name)].subsets)
    else:
        result = _from_selector(index, service)
    return MappingProxyType(result)


def _from_groups(
    index: MeshIndex,
    service: Service,
    groups: Iterable[tuple[tuple[EndpointAddress, ...], tuple[EndpointPort, ...]]],
) -> dict[int, tuple[Endpoint, ...]]:
    found: dict[int, set[Endpoint]] = {sp.port: set() for sp in service.ports}
    groups = list(groups)
    for sp in service.ports:
        for addresses, ports in groups:
            target = _matching_port(sp, ports, single=len(service.ports) == 1)
            if target is None:
                continue
            for address in addresses:
                if not address.ready:
                    continue
                pod = _pod_of(index, address, namespace=service.meta.namespace)
                found[sp.port].add(_endpoint(index, address.ip, target, pod, service.meta.namespace))
    return {port: _ordered(eps) for port, eps in found.items()}


def _matching_port(sp: ServicePort, ports: tuple[EndpointPort, ...], *, single: bool) -> int | None:
    for ep in ports:
        if ep.name == sp.name:
            return ep.port
    if single and len(ports) == 1:  # one unnamed port on each side: they belong together
        return ports[0].port
    return None


def _pod_of(index: MeshIndex, address: EndpointAddress, *, namespace: str) -> Pod | None:
    if address.pod:
        pod = index.pods.get((address.namespace or namespace, address.pod))
        if pod is not None:
            return pod
    return index.pod_by_ip(address.ip, namespace=namespace)


def _from_selector(index: MeshIndex, service: Service) -> dict[int, tuple[Endpoint, ...]]:
    ns = service.meta.namespace
    pods = [p for p in index.select_pods(ns, service.selector or {}) if index.is_serving(p)]
    result: dict[int, tuple[Endpoint, ...]] = {}
    for sp in service.ports:
        eps: set[Endpoint] = set()
        for pod in pods:
            target = target_port(sp, pod)
            if target is not None:
                assert pod.pod_ip is not None
                eps.add(_endpoint(index, pod.pod_ip, target, pod, ns))
        result[sp.port] = _ordered(eps)
    return result


def target_port(sp: ServicePort, pod: Pod) -> int | None:
    """The container port of ``pod`` that service port ``sp`` sends to; None when the name is unknown."""
    if sp.target_port is None:
        return sp.port
    if isinstance(sp.target_port, int):
        return sp.target_port
    for container in pod.spec.containers:
        for cp in container.ports:
            if cp.name == sp.target_port:
                return cp.container_port
    return None


def _endpoint(index: MeshIndex, ip: str, port: int, pod: Pod | None, namespace: str) -> Endpoint:
    if pod is None:
        return Endpoint(address=ip, port=port, namespace=namespace)
    return Endpoint(
        address=ip,
        port=port,
        pod=pod.meta.name,
        namespace=pod.meta.namespace,
        identity=index.identity_of(pod),
        proxy_port=index.proxy_port_of(pod),
        workload=index.workload_of(pod),
    )


def _ordered(eps: Iterable[Endpoint]) -> tuple[Endpoint, ...]:
    return tuple(sorted(eps, key=lambda e: (e.address, e.port, e.pod)))
