"""The inbound half of a ProxyConfig: the ports the workload serves and who may call them.

Ports: the pod's container ports plus the numeric target ports of the Services that send
to it; a port's protocol comes from the Service port that targets it (the first Service
by name), else from the container port's own protocol and name, else http.
Rules: every AllowRule whose destination is the pod's identity; ``peers`` maps the pod IPs
of the identities named in those rules' sources (pre-mTLS caller identification).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from types import MappingProxyType

from smi.compile.endpoints import service_endpoints
from smi.compile.index import APP_ADDRESS_ANNOTATION, ENDPOINT_KINDS, Key, MeshIndex
from smi.compile.plans import MeshPlan
from smi.compile.protocols import port_protocol
from smi.model import Pod
from smi.proxyconfig.resilience import InboundRateLimit
from smi.proxyconfig.types import AllowRule, InboundConfig, InboundPort


def inbound_for(index: MeshIndex, plan: MeshPlan, pod: Pod) -> InboundConfig:
    """The inbound config of ``pod``'s sidecar (memoised per pod; the same object while unchanged).

    It depends on the allow rules of the pod's identity (the very same tuple while the
    groups that contribute them are unchanged), the pods of their sources (peers), the pod,
    and the services targeting it (the endpoint kinds).
    """
    key = ("inbound", pod.meta.namespace, pod.meta.name)
    rules = plan.allow.get(index.identity_of(pod), ())
    limits = _rate_limits(index, plan, pod)
    return index.memo_on(key, (rules, limits), lambda: _build(index, plan, pod, limits), depends=ENDPOINT_KINDS)


def _rate_limits(index: MeshIndex, plan: MeshPlan, pod: Pod) -> tuple[InboundRateLimit, ...]:
    """The rate limits of the services whose endpoints include ``pod`` (policy.smi-mesh.io)."""
    if not plan.rate_limits:
        return ()
    found: list[InboundRateLimit] = []
    where = (pod.meta.namespace, pod.meta.name)
    for key, limits in plan.rate_limits.items():
        svc = index.services.get(key)
        if svc is None:
            continue
        if any((ep.namespace, ep.pod) == where for eps in service_endpoints(index, svc).values() for ep in eps):
            found.extend(limits)
    return tuple(found)


def _build(index: MeshIndex, plan: MeshPlan, pod: Pod, limits: tuple[InboundRateLimit, ...] = ()) -> InboundConfig:
    identity = index.identity_of(pod)
    rules, peers = _rules_and_peers(index, plan, identity)
    return InboundConfig(
        ports=_ports(index, pod),
        app_address=pod.meta.annotations.get(APP_ADDRESS_ANNOTATION) or index.settings.app_address,
        permissive=index.settings.permissive,
        rules=rules,
        peers=peers,
        rate_limits=limits,
    )


def _rules_and_peers(
    index: MeshIndex, plan: MeshPlan, identity: str
) -> tuple[tuple[AllowRule, ...], tuple[tuple[str, str], ...]]:
    def build() -> tuple[tuple[AllowRule, ...], tuple[tuple[str, str], ...]]:
        rules = plan.allow.get(identity, ())
        sources = sorted({s for rule in rules for s in rule.sources})
        peers = {
            (pod.pod_ip, source) for source in sources for pod in index.pods_by_identity.get(source, ()) if pod.pod_ip
        }
        return rules, tuple(sorted(peers))

    # the rules (compared as objects), and the pods of their sources (peers)
    rules = plan.allow.get(identity, ())
    return index.memo_on(("inbound-rules", identity), (rules,), build, depends=frozenset({Pod.KIND}))


def _ports(index: MeshIndex, pod: Pod) -> tuple[InboundPort, ...]:
    targeted = _service_target_protocols(index).get((pod.meta.namespace, pod.meta.name), {})
    ports: dict[int, InboundPort] = {}
    for container in pod.spec.containers:
        for cp in container.ports:
            if cp.container_port in ports:
                continue
            protocol = targeted.get(cp.container_port) or port_protocol(name=cp.name, protocol=cp.protocol)
            ports[cp.container_port] = InboundPort(port=cp.container_port, protocol=protocol, name=cp.name)
    for port, protocol in targeted.items():
        ports.setdefault(port, InboundPort(port=port, protocol=protocol))
    return tuple(ports[p] for p in sorted(ports))


def _service_target_protocols(index: MeshIndex) -> Mapping[Key, Mapping[int, str]]:
    """(ns, pod) -> container port -> protocol of the first Service port (by service name) targeting it."""

    def build() -> Mapping[Key, Mapping[int, str]]:
        found: dict[Key, dict[int, str]] = defaultdict(dict)
        for svc in index.services.values():  # (namespace, name) order
            endpoints = service_endpoints(index, svc)
            for sp in svc.ports:
                protocol = port_protocol(name=sp.name, protocol=sp.protocol, app_protocol=sp.app_protocol)
                for ep in endpoints.get(sp.port, ()):
                    if ep.pod:
                        found[(ep.namespace, ep.pod)].setdefault(ep.port, protocol)
        return MappingProxyType(found)

    return index.memo("service-target-protocols", build, depends=ENDPOINT_KINDS)
