"""Names the compile gives to what it builds (clusters, hostnames), so every part spells them alike."""

from __future__ import annotations

from smi.model import Service


def cluster_name(namespace: str, service: str, port: int) -> str:
    """``<ns>/<service>:<port>``: one cluster per service port."""
    return f"{namespace}/{service}:{port}"


def hostnames(service: Service, *, caller_namespace: str, cluster_domain: str) -> tuple[str, ...]:
    """Every name a caller in ``caller_namespace`` may use for ``service``.

    ``name`` alone only from the service's own namespace (as Kubernetes DNS search paths
    resolve it), then ``name.ns``, ``name.ns.svc``, ``name.ns.svc.<cluster-domain>`` and the
    cluster IP when the service has one (not for headless services).
    """
    name, ns = service.meta.name, service.meta.namespace
    names = [name] if ns == caller_namespace else []
    names += [f"{name}.{ns}", f"{name}.{ns}.svc", f"{name}.{ns}.svc.{cluster_domain}"]
    if service.cluster_ip and service.cluster_ip != "None":
        names.append(service.cluster_ip)
    return tuple(names)
