"""The core Kubernetes objects -> hub types in :mod:`smi.model.core`.

Only the fields the mesh uses are read (and checked); everything else is ignored.  A Pod's
service account defaults to ``default``; a Pod is ready when its ``Ready`` condition is
``True``; an EndpointSlice names its Service in the ``kubernetes.io/service-name`` label.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from smi.checking.checks import dns_label_problem, dns_subdomain_problem
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
from smi.model.meta import ObjectMeta
from smi.model.parsing._reporting import Report
from smi.model.parsing._shapes import mapping, sequence, strings, text, whole

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
Raw = Mapping[str, Any]


def build_namespace(raw: Raw, *, meta: ObjectMeta, report: Report) -> Namespace:
    return Namespace(meta=meta)


def build_service_account(raw: Raw, *, meta: ObjectMeta, report: Report) -> ServiceAccount:
    return ServiceAccount(meta=meta)


def build_service(raw: Raw, *, meta: ObjectMeta, report: Report) -> Service:
    spec = mapping(raw.get("spec"))
    items = sequence(spec.get("ports"))
    ports: list[ServicePort] = []
    names: set[str] = set()
    for i, value in enumerate(items):
        path = f"spec.ports[{i}]"
        item = mapping(value)
        name = text(item.get("name")) or ""
        if name in names:
            report.error(f"{path}.name", f"duplicate port name {name!r}")
        names.add(name)
        if not name and len(items) > 1:
            report.error(f"{path}.name", "every port needs a name when a Service has several ports")
        target = item.get("targetPort")
        if isinstance(target, str):
            report.check(f"{path}.targetPort", dns_label_problem(target, what="port name"))
        ports.append(
            ServicePort(
                port=whole(item.get("port")) or 0,
                name=name,
                target_port=target if isinstance(target, int | str) else None,
                protocol=text(item.get("protocol")) or "TCP",
                app_protocol=text(item.get("appProtocol")),
            )
        )
    selector = spec.get("selector")
    cluster_ip = text(spec.get("clusterIP"))
    if cluster_ip not in (None, "", "None"):
        _check_ip(cluster_ip, "spec.clusterIP", report)
    return Service(
        meta=meta,
        ports=tuple(ports),
        selector=dict(selector) if isinstance(selector, Mapping) else None,
        cluster_ip=cluster_ip or None,
        type=text(spec.get("type")) or "ClusterIP",
    )


def build_pod_spec(spec: Raw, path: str, report: Report) -> PodSpec:
    account = text(spec.get("serviceAccountName")) or text(spec.get("serviceAccount")) or "default"
    report.check(f"{path}.serviceAccountName", dns_subdomain_problem(account, what="service account name"))
    containers: list[Container] = []
    for i, value in enumerate(sequence(spec.get("containers"))):
        where = f"{path}.containers[{i}]"
        item = mapping(value)
        name = text(item.get("name"))
        if name is not None:
            report.check(f"{where}.name", dns_label_problem(name, what="container name"))
        env: list[EnvVar] = []
        for j, entry in enumerate(sequence(item.get("env"))):
            var = mapping(entry)
            field_ref = text(mapping(mapping(var.get("valueFrom")).get("fieldRef")).get("fieldPath"))
            if field_ref is not None and "value" in var:
                report.error(f"{where}.env[{j}]", "has both value and valueFrom")
            env.append(EnvVar(name=text(var.get("name")) or "", value=text(var.get("value")), field_ref=field_ref))
        ports = tuple(
            ContainerPort(
                container_port=whole(port.get("containerPort")) or 0,
                name=text(port.get("name")) or "",
                protocol=text(port.get("protocol")) or "TCP",
            )
            for port in map(mapping, sequence(item.get("ports")))
        )
        containers.append(
            Container(
                name=name or "",
                image=text(item.get("image")) or "",
                command=strings(item.get("command")),
                args=strings(item.get("args")),
                env=tuple(env),
                ports=ports,
                working_dir=text(item.get("workingDir")),
            )
        )
    return PodSpec(service_account=account, containers=tuple(containers))


def build_pod(raw: Raw, *, meta: ObjectMeta, report: Report) -> Pod:
    status = mapping(raw.get("status"))
    pod_ip = text(status.get("podIP")) or None
    if pod_ip is not None:
        _check_ip(pod_ip, "status.podIP", report)
    conditions = map(mapping, sequence(status.get("conditions")))
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return Pod(
        meta=meta,
        spec=build_pod_spec(mapping(raw.get("spec")), "spec", report),
        pod_ip=pod_ip,
        phase=text(status.get("phase")) or "Pending",
        ready=ready,
    )


def build_replica_set(raw: Raw, *, meta: ObjectMeta, report: Report) -> ReplicaSet:
    """Only who owns it: a status or revision update (new resourceVersion, annotations) is the same object,
    so the store sees no change and nothing recompiles while a rollout scales its ReplicaSets."""
    return ReplicaSet(
        meta=ObjectMeta(
            name=meta.name, namespace=meta.namespace, labels=meta.labels, uid=meta.uid,
            owner_references=meta.owner_references,
        )
    )  # fmt: skip


def build_deployment(raw: Raw, *, meta: ObjectMeta, report: Report) -> Deployment:
    spec = mapping(raw.get("spec"))
    template = mapping(spec.get("template"))
    template_meta = mapping(template.get("metadata"))
    selector = mapping(mapping(spec.get("selector")).get("matchLabels"))
    labels = mapping(template_meta.get("labels"))
    mismatched = [key for key, value in selector.items() if labels.get(key) != value]
    if mismatched:
        report.error(
            "spec.selector.matchLabels",
            f"selector does not match the template's labels (key {mismatched[0]!r})",
        )
    replicas = whole(spec.get("replicas"))
    return Deployment(
        meta=meta,
        replicas=1 if replicas is None else replicas,
        selector=dict(selector),
        template_labels=dict(labels),
        template_annotations=dict(mapping(template_meta.get("annotations"))),
        template=build_pod_spec(mapping(template.get("spec")), "spec.template.spec", report),
    )


def _endpoint_ports(items: Any) -> tuple[EndpointPort, ...]:
    return tuple(
        EndpointPort(
            port=whole(p.get("port")) or 0,
            name=text(p.get("name")) or "",
            protocol=text(p.get("protocol")) or "TCP",
            app_protocol=text(p.get("appProtocol")),
        )
        for p in map(mapping, sequence(items))
    )


def _address(ip: str, *, ready: bool, target: Any, path: str, report: Report) -> EndpointAddress:
    _check_ip(ip, path, report)
    ref = mapping(target)
    pod = text(ref.get("name")) if ref.get("kind", "Pod") == "Pod" else None
    return EndpointAddress(ip=ip, ready=ready, pod=pod, namespace=text(ref.get("namespace")))


def build_endpoints(raw: Raw, *, meta: ObjectMeta, report: Report) -> Endpoints:
    subsets = []
    for i, value in enumerate(sequence(raw.get("subsets"))):
        subset = mapping(value)
        addresses = [
            _address(ip, ready=ready, target=a.get("targetRef"), path=f"subsets[{i}].{key}[{j}].ip", report=report)
            for key, ready in (("addresses", True), ("notReadyAddresses", False))
            for j, a in enumerate(map(mapping, sequence(subset.get(key))))
            if (ip := text(a.get("ip"))) is not None
        ]
        subsets.append((tuple(addresses), _endpoint_ports(subset.get("ports"))))
    return Endpoints(meta=meta, subsets=tuple(subsets))


def build_endpoint_slice(raw: Raw, *, meta: ObjectMeta, report: Report) -> EndpointSlice:
    service = meta.labels.get(SERVICE_NAME_LABEL, "")
    if not service:
        report.error(f'metadata.labels["{SERVICE_NAME_LABEL}"]', "required label is missing (names the Service)")
    address_type = text(raw.get("addressType")) or ""
    addresses: list[EndpointAddress] = []
    for i, value in enumerate(sequence(raw.get("endpoints"))):
        endpoint = mapping(value)
        ready = mapping(endpoint.get("conditions")).get("ready")
        for j, ip in enumerate(sequence(endpoint.get("addresses"))):
            if not isinstance(ip, str):
                continue
            path = f"endpoints[{i}].addresses[{j}]"
            if address_type == "FQDN":
                report.check(path, dns_subdomain_problem(ip, what="address"))
                addresses.append(EndpointAddress(ip=ip, ready=ready is not False))
            else:
                target = endpoint.get("targetRef")
                addresses.append(_address(ip, ready=ready is not False, target=target, path=path, report=report))
    return EndpointSlice(
        meta=meta,
        service=service if isinstance(service, str) else "",
        address_type=address_type,
        endpoints=tuple(addresses),
        ports=_endpoint_ports(raw.get("ports")),
    )


def _check_ip(value: str, path: str, report: Report) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        report.error(path, f"must be an IP address, got {value[:60]!r}")
