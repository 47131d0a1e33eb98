"""The REST path of every kind ``smi install`` writes or ``smi check`` reads (a fixed table, no discovery)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Kind:
    api_version: str
    kind: str
    plural: str
    namespaced: bool

    def collection(self, namespace: str | None = None) -> str:
        base = f"/api/{self.api_version}" if "/" not in self.api_version else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            return f"{base}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{self.plural}"

    def path(self, name: str, namespace: str | None = None) -> str:
        return f"{self.collection(namespace)}/{name}"


KINDS: dict[str, Kind] = {
    k.kind: k
    for k in (
        Kind("v1", "Namespace", "namespaces", False),
        Kind("v1", "ServiceAccount", "serviceaccounts", True),
        Kind("v1", "Service", "services", True),
        Kind("v1", "Secret", "secrets", True),
        Kind("v1", "Pod", "pods", True),
        Kind("v1", "ConfigMap", "configmaps", True),
        Kind("apps/v1", "Deployment", "deployments", True),
        Kind("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", True),
        Kind("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", False),
        Kind("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", False),
        Kind("rbac.authorization.k8s.io/v1", "Role", "roles", True),
        Kind("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", True),
        Kind("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", False),
        Kind("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", False),
        Kind("apiregistration.k8s.io/v1", "APIService", "apiservices", False),
        Kind("coordination.k8s.io/v1", "Lease", "leases", True),
    )
}


class UnknownKind(ValueError):
    pass


def kind_of(obj: Mapping[str, Any]) -> Kind:
    kind = KINDS.get(str(obj.get("kind")))
    if kind is None or kind.api_version != obj.get("apiVersion"):
        raise UnknownKind(f"{obj.get('apiVersion')}/{obj.get('kind')}: not a kind smi install manages")
    return kind


def path_of(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    kind = kind_of(obj)
    return kind.path(str(meta["name"]), meta.get("namespace") if kind.namespaced else None)


def describe(obj: Mapping[str, Any]) -> str:
    """``Deployment smi-system/smi-controller`` or ``ClusterRole smi-controller``."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{obj.get('kind')} {ns + '/' if ns else ''}{meta.get('name')}"
