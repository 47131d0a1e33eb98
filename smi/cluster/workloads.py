"""The control plane's own objects: ServiceAccount, RBAC, Deployment, Service, PodDisruptionBudget.

RBAC grants only what the code does (each rule says which code):

* kopf (``smi.controllers``) lists and watches the core kinds, the SMI kinds and the CRDs,
  and posts Events for invalid objects;
* the status writer patches SMI objects' ``status`` (the object itself when a CRD has no
  status subresource);
* the CA creates TokenReviews;
* the leader patches the ``caBundle`` of the webhook configuration, the SMI CRDs and the
  metrics API's APIServices (metrics, tap, monitoring; named: ``resourceNames``), after reading them;
* leader election gets, creates and updates one Lease in the control plane's namespace.
"""

from __future__ import annotations

from typing import Any

from smi.cluster import metrics_api
from smi.cluster.options import (
    CA_MOUNT,
    CONFIG_PORT,
    MESH_CA_SECRET,
    NAME,
    PART_OF,
    WEBHOOK_CA_MOUNT,
    WEBHOOK_CA_SECRET,
    WEBHOOK_CONFIGURATION,
    WEBHOOK_PORT,
    InstallOptions,
)
from smi.controllers.kinds import ALL, CORE

LABELS = {"app.kubernetes.io/name": NAME, **PART_OF}


def _meta(name: str, namespace: str | None = None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta["labels"] = dict(extra.pop("labels", PART_OF))
    meta.update(extra)
    return meta


def _watch_rules() -> list[dict[str, Any]]:
    by_group: dict[str, list[str]] = {}
    for w in ALL:
        by_group.setdefault(w.group, []).append(w.plural)
    return [{"apiGroups": [g], "resources": sorted(set(p)), "verbs": ["list", "watch"]} for g, p in by_group.items()]


def rbac(options: InstallOptions, crd_names: list[str]) -> list[dict[str, Any]]:
    ns = options.namespace
    # every group's custom kinds (SMI and the mesh's own policy group): Accepted conditions written
    custom = [w for w in ALL if w not in CORE]
    smi_groups = sorted({w.group for w in custom})
    smi_status = sorted({f"{w.plural}/status" for w in custom} | {w.plural for w in custom})
    rules: list[dict[str, Any]] = [
        *_watch_rules(),
        {"apiGroups": smi_groups, "resources": smi_status, "verbs": ["patch"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
        {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
        {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"],
         "verbs": ["list", "watch"]},
        {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"],
         "resourceNames": sorted(crd_names), "verbs": ["get", "patch"]},
        {"apiGroups": ["admissionregistration.k8s.io"], "resources": ["mutatingwebhookconfigurations"],
         "resourceNames": [WEBHOOK_CONFIGURATION], "verbs": ["get", "patch"]},
        {"apiGroups": ["apiregistration.k8s.io"], "resources": ["apiservices"],
         "resourceNames": list(metrics_api.APISERVICES), "verbs": ["get", "patch"]},
    ]  # fmt: skip
    subject = {"kind": "ServiceAccount", "name": NAME, "namespace": ns}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(NAME, ns)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": _meta(NAME),
         "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": _meta(NAME),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME},
         "subjects": [subject]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _meta(NAME, ns),
         "rules": [
             {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
             {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": [NAME],
              "verbs": ["get", "patch"]},
         ]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": _meta(NAME, ns),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME},
         "subjects": [subject]},
    ]  # fmt: skip


def _probe(path: str, port: str, *, period: int, failures: int = 3) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port, "scheme": "HTTPS"}, "periodSeconds": period,
            "failureThreshold": failures}  # fmt: skip


_HARDENED = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}


def controller_container(options: InstallOptions) -> dict[str, Any]:
    args = [
        "controller", "--listen", f"0.0.0.0:{CONFIG_PORT}", "--trust-domain", options.trust_domain,
        "--ca-dir", CA_MOUNT, "--cert-lifetime", options.cert_lifetime,
        "--authenticator", "tokenreview", "--token-audience", "smi-mesh", "--tls-dns-name", options.service_host,
        "--leader-elect", "--lease-namespace", options.namespace, "--lease-name", NAME,
        "--lease-duration", str(options.lease_duration),
        "--webhook-ca-file", f"{WEBHOOK_CA_MOUNT}/ca.crt", "--webhook-configuration", WEBHOOK_CONFIGURATION,
        *(arg for name in metrics_api.APISERVICES for arg in ("--apiservice", name)),
    ]  # fmt: skip
    return {
        "name": "controller", "image": options.image, "imagePullPolicy": options.image_pull_policy,
        "command": ["smi"], "args": args,
        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "ports": [{"name": "config", "containerPort": CONFIG_PORT, "protocol": "TCP"}],
        "readinessProbe": _probe("/readyz", "config", period=5),
        "livenessProbe": _probe("/healthz", "config", period=10, failures=6),
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": dict(_HARDENED),
        "volumeMounts": [{"name": "ca", "mountPath": CA_MOUNT, "readOnly": True},
                         {"name": "webhook-ca", "mountPath": WEBHOOK_CA_MOUNT, "readOnly": True}],
    }  # fmt: skip


def webhook_container(options: InstallOptions) -> dict[str, Any]:
    args = [
        "webhook", "--listen", f"0.0.0.0:{WEBHOOK_PORT}", "--ca-dir", WEBHOOK_CA_MOUNT,
        "--cert-lifetime", options.webhook_cert_lifetime, "--dns-name", options.service_host,
        "--image", options.image, "--image-pull-policy", options.image_pull_policy,
        "--control-plane-url", f"https://{options.service_host}:{CONFIG_PORT}",
        "--trust-bundle-file", f"{CA_MOUNT}/ca.crt", "--drain-grace", str(options.drain_grace),
        "--tap-identity", metrics_api.identity(options),
    ]  # fmt: skip
    if options.exclude_outbound_cidrs:
        args += ["--exclude-outbound-cidrs", ",".join(options.exclude_outbound_cidrs)]
    return {
        "name": "webhook", "image": options.image, "imagePullPolicy": options.image_pull_policy,
        "command": ["smi"], "args": args,
        "ports": [{"name": "webhook", "containerPort": WEBHOOK_PORT, "protocol": "TCP"}],
        "readinessProbe": _probe("/healthz", "webhook", period=5),
        "livenessProbe": _probe("/healthz", "webhook", period=10),
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "securityContext": dict(_HARDENED),
        "volumeMounts": [{"name": "webhook-ca", "mountPath": WEBHOOK_CA_MOUNT, "readOnly": True},
                         {"name": "ca", "mountPath": CA_MOUNT, "readOnly": True}],
    }  # fmt: skip


def deployment(options: InstallOptions) -> dict[str, Any]:
    ns = options.namespace
    spec = {
        "serviceAccountName": NAME,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                                "labelSelector": {"matchLabels": {"app.kubernetes.io/name": NAME}}}},
        ]}},
        "containers": [controller_container(options), webhook_container(options)],
        "volumes": [
            {"name": "ca", "secret": {"secretName": MESH_CA_SECRET,
                                      "items": [{"key": k, "path": k} for k in ("ca.crt", "tls.crt", "tls.key")]}},
            {"name": "webhook-ca", "secret": {"secretName": WEBHOOK_CA_SECRET}},
        ],
    }  # fmt: skip
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(NAME, ns, labels=LABELS),
        "spec": {
            "replicas": options.replicas,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
            "template": {"metadata": {"labels": dict(LABELS)}, "spec": spec},
        },
    }  # fmt: skip


def service_and_budget(options: InstallOptions) -> list[dict[str, Any]]:
    ns = options.namespace
    return [
        {"apiVersion": "v1", "kind": "Service", "metadata": _meta(NAME, ns, labels=LABELS),
         "spec": {"selector": {"app.kubernetes.io/name": NAME}, "ports": [
             {"name": "https-webhook", "port": 443, "targetPort": "webhook", "protocol": "TCP"},
             {"name": "https-config", "port": CONFIG_PORT, "targetPort": "config", "protocol": "TCP"},
         ]}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _meta(NAME, ns, labels=LABELS),
         "spec": {"minAvailable": 1 if options.replicas > 1 else 0,
                  "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}}}},
    ]  # fmt: skip
