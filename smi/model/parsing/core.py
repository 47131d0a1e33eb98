"""The core Kubernetes objects -> hub types in :mod:`smi.model.core`.

Only the fields the mesh uses are read (and checked); everything else is ignored.  A Pod's
service account defaults to ``default``; a Pod is ready when its ``Ready`` condition is
``True``; an EndpointSlice names its Service in the ``kubernetes.io/service-name`` label.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

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
    Service,
    ServiceAccount,
    ServicePort,
)
from smi.model.meta import ObjectMeta
from smi.model.parsing._reporting import Report
from smi.validation.checks import dns_label_problem, dns_subdomain_problem

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
Raw = Mapping[str, Any]


def build_namespace(raw: Raw, *, meta: ObjectMeta, report: Report) -> Namespace:
    return Namespace(meta=meta)


def build_service_account(raw: Raw, *, meta: ObjectMeta, report: Report) -> ServiceAccount:
    return ServiceAccount(meta=meta)


def build_service(raw: Raw, *, meta: ObjectMeta, report: Report) -> Service:
    spec = raw.get("spec") or {}
    ports: list[ServicePort] = []
    names: set[str] = set()
    for i, item in enumerate(spec.get("ports", ())):
        path = f"spec.ports[{i}]"
        name = str(item.get("name", ""))
        if name in names:
            report.error(f"{path}.name", f"duplicate port name {name!r}")
        names.add(name)
        if not name and len(spec["ports"]) > 1:
            report.error(f"{path}.name", "every port needs a name when a Service has several ports")
        target = item.get("targetPort")
        if isinstance(target, str):
            report.check(f"{path}.targetPort", dns_label_problem(target, what="port name"))
        ports.append(
            ServicePort(
                port=item["port"],
                name=name,
                target_port=target,
                protocol=item.get("protocol", "TCP"),
                app_protocol=item.get("appProtocol"),
            )
        )
    selector = spec.get("selector")
    cluster_ip = spec.get("clusterIP")
    if cluster_ip not in (None, "", "None"):
        _check_ip(cluster_ip, "spec.clusterIP", report)
    return Service(
        meta=meta,
        ports=tuple(ports),
        selector=dict(selector) if selector is not None else None,
        cluster_ip=cluster_ip or None,
        type=str(spec.get("type", "ClusterIP")),
    )


def build_pod_spec(spec: Raw, path: str, report: Report) -> PodSpec:
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    report.check(f"{path}.serviceAccountName", dns_subdomain_problem(account, what="service account name"))
    containers: list[Container] = []
    for i, item in enumerate(spec.get("containers", ())):
        where = f"{path}.containers[{i}]"
        report.check(f"{where}.name", dns_label_problem(str(item["name"]), what="container name"))
        env: list[EnvVar] = []
        for j, var in enumerate(item.get("env", ())):
            field_ref = (var.get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath")
            if field_ref is not None and "value" in var:
                report.error(f"{where}.env[{j}]", "has both value and valueFrom")
            env.append(EnvVar(name=var["name"], value=var.get("value"), field_ref=field_ref))
        ports = tuple(
            ContainerPort(container_port=p["containerPort"], name=p.get("name", ""), protocol=p.get("protocol", "TCP"))
            for p in item.get("ports", ())
        )
        containers.append(
            Container(
                name=item["name"],
                image=item.get("image", ""),
                command=tuple(item.get("command", ())),
                args=tuple(item.get("args", ())),
                env=tuple(env),
                ports=ports,
                working_dir=item.get("workingDir"),
            )
        )
    return PodSpec(service_account=account, containers=tuple(containers))


def build_pod(raw: Raw, *, meta: ObjectMeta, report: Report) -> Pod:
    status = raw.get("status") or {}
    pod_ip = status.get("podIP") or None
    if pod_ip is not None:
        _check_ip(pod_ip, "status.podIP", report)
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", ()))
    return Pod(
        meta=meta,
        spec=build_pod_spec(raw.get("spec") or {}, "spec", report),
        pod_ip=pod_ip,
        phase=str(status.get("phase", "Pending")),
        ready=ready,
    )


def build_deployment(raw: Raw, *, meta: ObjectMeta, report: Report) -> Deployment:
    spec = raw.get("spec") or {}
    template = spec.get("template") or {}
    template_meta = template.get("metadata") or {}
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    labels = template_meta.get("labels") or {}
    mismatched = [key for key, value in selector.items() if labels.get(key) != value]
    if mismatched:
        report.error(
            "spec.selector.matchLabels",
            f"selector does not match the template's labels (key {mismatched[0]!r})",
        )
    return Deployment(
        meta=meta,
        replicas=spec.get("replicas", 1),
        selector=selector,
        template_labels=labels,
        template_annotations=template_meta.get("annotations") or {},
        template=build_pod_spec(template.get("spec") or {}, "spec.template.spec", report),
    )


def _endpoint_ports(items: Any) -> tuple[EndpointPort, ...]:
    return tuple(
        EndpointPort(
            port=p["port"], name=p.get("name", ""), protocol=p.get("protocol", "TCP"), app_protocol=p.get("appProtocol")
        )
        for p in items or ()
    )


def _address(ip: str, *, ready: bool, target: Raw | None, path: str, report: Report) -> EndpointAddress:
    _check_ip(ip, path, report)
    target = target or {}
    pod = target.get("name") if target.get("kind", "Pod") == "Pod" else None
    return EndpointAddress(ip=ip, ready=ready, pod=pod, namespace=target.get("namespace"))


def build_endpoints(raw: Raw, *, meta: ObjectMeta, report: Report) -> Endpoints:
    subsets = []
    for i, subset in enumerate(raw.get("subsets", ())):
        addresses = [
            _address(a["ip"], ready=ready, target=a.get("targetRef"), path=f"subsets[{i}].{key}[{j}].ip", report=report)
            for key, ready in (("addresses", True), ("notReadyAddresses", False))
            for j, a in enumerate(subset.get(key, ()))
        ]
        subsets.append((tuple(addresses), _endpoint_ports(subset.get("ports"))))
    return Endpoints(meta=meta, subsets=tuple(subsets))


def build_endpoint_slice(raw: Raw, *, meta: ObjectMeta, report: Report) -> EndpointSlice:
    service = meta.labels.get(SERVICE_NAME_LABEL, "")
    if not service:
        report.error(f'metadata.labels["{SERVICE_NAME_LABEL}"]', "required label is missing (names the Service)")
    address_type = raw["addressType"]
    addresses: list[EndpointAddress] = []
    for i, endpoint in enumerate(raw.get("endpoints", ())):
        ready = (endpoint.get("conditions") or {}).get("ready")
        for j, ip in enumerate(endpoint["addresses"]):
            path = f"endpoints[{i}].addresses[{j}]"
            if address_type == "FQDN":
                report.check(path, dns_subdomain_problem(ip, what="address"))
                addresses.append(EndpointAddress(ip=ip, ready=ready is not False))
            else:
                target = endpoint.get("targetRef")
                addresses.append(_address(ip, ready=ready is not False, target=target, path=path, report=report))
    return EndpointSlice(
        meta=meta,
        service=service,
        address_type=address_type,
        endpoints=tuple(addresses),
        ports=_endpoint_ports(raw.get("ports")),
    )


def _check_ip(value: str, path: str, report: Report) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        report.error(path, f"must be an IP address, got {value[:60]!r}")
