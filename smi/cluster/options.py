"""``InstallOptions``: what ``smi install`` can vary, with the names every rendered object shares."""

from __future__ import annotations

from dataclasses import dataclass

PART_OF = {"app.kubernetes.io/part-of": "smi-mesh"}
NAME = "smi-controller"  # ServiceAccount, ClusterRole(Binding), Role(Binding), Deployment, Service, PDB, Lease
WEBHOOK_CONFIGURATION = "smi-mesh-sidecar-injector"
MESH_CA_SECRET = "smi-ca"
WEBHOOK_CA_SECRET = "smi-webhook-ca"
CREATE_ONLY = "smi-mesh.io/create-only"  # annotation: applied once, never updated (the CA Secrets)
CONFIG_PORT = 15010
WEBHOOK_PORT = 8443
CA_MOUNT = "/etc/smi-mesh/ca"
WEBHOOK_CA_MOUNT = "/etc/smi-mesh/webhook-ca"
INJECTION_LABEL = "smi-mesh.io/injection"  # on a Namespace: "optional" = fail open
OPTIONAL = "optional"
INJECT_LABEL = "smi-mesh.io/inject"  # on a Pod (template): "enabled" asks for a sidecar in any namespace


@dataclass(frozen=True, slots=True, kw_only=True)
class InstallOptions:
    namespace: str = "smi-system"
    image: str = "smi-mesh:latest"
    image_pull_policy: str = "IfNotPresent"
    replicas: int = 2
    trust_domain: str = "cluster.local"
    cert_lifetime: str = "24h"  # workload certificates
    webhook_cert_lifetime: str = "24h"  # each replica's webhook serving certificate (re-issued at half)
    lease_duration: int = 15  # seconds a leader's Lease stays valid without renewal
    exclude_outbound_cidrs: tuple[str, ...] = ()
    drain_grace: int = 10  # seconds an injected sidecar drains on SIGTERM

    @property
    def service_host(self) -> str:
        return f"{NAME}.{self.namespace}.svc"

    def problems(self) -> list[str]:
        found = []
        if self.replicas < 1:
            found.append(f"replicas: must be at least 1, got {self.replicas}")
        if self.lease_duration < 3:
            found.append(f"lease_duration: must be at least 3 seconds, got {self.lease_duration}")
        if self.drain_grace < 0:
            found.append(f"drain_grace: must not be negative, got {self.drain_grace}")
        return found
