"""Names the compile gives to what it builds (clusters, hostnames), so every part spells them alike.

Hostnames follow the contract's one rule (``smi.proxyconfig.hostnames``), which the
proxy applies too.
"""

from __future__ import annotations

from smi.model import Service
from smi.proxyconfig.hostnames import service_hostnames


def cluster_name(namespace: str, service: str, port: int) -> str:
    """``<ns>/<service>:<port>``: one cluster per service port."""
    return f"{namespace}/{service}:{port}"


def hostnames(service: Service, *, caller_namespace: str, cluster_domain: str) -> tuple[str, ...]:
    """Every name a caller in ``caller_namespace`` may use for ``service`` (see ``service_hostnames``)."""
    return service_hostnames(
        service.meta.name,
        service.meta.namespace,
        caller_namespace=caller_namespace,
        cluster_domain=cluster_domain,
        cluster_ip=service.cluster_ip or "",
    )
