"""The names a caller may use for a mesh Service: the one rule both sides apply.

The compile lists them in each ``OutboundService.hostnames``; the proxy derives them for
the compact ``DeniedServices`` entries (which carry only names and cluster IPs).  Names are
lower-cased (DNS names are case-insensitive; Kubernetes names are lower-case already) and
the cluster domain loses a trailing dot.
"""

from __future__ import annotations


def service_hostnames(
    name: str, namespace: str, *, caller_namespace: str, cluster_domain: str, cluster_ip: str = ""
) -> tuple[str, ...]:
    """Every name a caller in ``caller_namespace`` may use for Service ``namespace/name``.

    ``name`` alone only from the service's own namespace (as Kubernetes DNS search paths
    resolve it), then ``name.ns``, ``name.ns.svc``, ``name.ns.svc.<cluster-domain>`` and the
    cluster IP when there is one (``""`` or ``"None"``, a headless service: none).
    """
    name, ns, domain = name.lower(), namespace.lower(), cluster_domain.lower().rstrip(".")
    names = [name] if namespace == caller_namespace else []
    names += [f"{name}.{ns}", f"{name}.{ns}.svc", f"{name}.{ns}.svc.{domain}"]
    if cluster_ip and cluster_ip != "None":
        names.append(cluster_ip.lower())
    return tuple(names)
