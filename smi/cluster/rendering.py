"""Everything ``smi install`` applies, rendered from ``InstallOptions`` (pure apart from making keys).

Order matters on apply: the namespace and CRDs first, Secrets before the Deployment that
mounts them, the webhook configuration last (so the API server never calls a webhook with
no pods behind it).  ``render(options, secrets=...)`` takes the CA Secrets a cluster already
has (``smi install`` reads them first) so that the caBundles it renders match them and a
re-run changes nothing; without them (``--dry-run`` with no cluster, a first install) new
CAs are made.

``python -m smi.cluster.rendering [DIR]`` writes ``manifests/install/`` for kustomize:
the same objects without the Secrets and caBundles (make the Secrets with
``smi install --dry-run -o yaml --only secrets``; the controller's leader patches the
caBundles in from the webhook CA Secret on start).
"""

from __future__ import annotations

import base64
import copy
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from smi.cluster import metrics_api
from smi.cluster.certificates import CA_CERT, new_webhook_ca
from smi.cluster.options import (
    CREATE_ONLY,
    INJECT_LABEL,
    INJECTION_LABEL,
    MESH_CA_SECRET,
    NAME,
    OPTIONAL,
    PART_OF,
    WEBHOOK_CA_SECRET,
    WEBHOOK_CONFIGURATION,
    InstallOptions,
)
from smi.cluster.workloads import deployment, rbac, service_and_budget
from smi.crds import build_crds
from smi.injection import NAMESPACE_LABEL
from smi.injection.webhook import INJECT_PATH


@dataclass(frozen=True, slots=True)
class Secrets:
    """The ``data`` of the two CA Secrets (base64 values, as the API returns them)."""

    mesh_ca: Mapping[str, str]
    webhook_ca: Mapping[str, str]

    @property
    def webhook_ca_bundle(self) -> bytes:
        return base64.b64decode(self.webhook_ca[CA_CERT])


def new_secrets(options: InstallOptions) -> Secrets:
    from smi.identity import material, storage

    mesh = storage.to_secret_data(material.generate(trust_domain=options.trust_domain))
    webhook = {k: base64.b64encode(v).decode() for k, v in new_webhook_ca().files().items()}
    return Secrets(mesh_ca=mesh, webhook_ca=webhook)


def _secret(name: str, namespace: str, data: Mapping[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(PART_OF),
                     "annotations": {CREATE_ONLY: "true"}},
        "data": dict(data),
    }  # fmt: skip


def secrets_objects(options: InstallOptions, secrets: Secrets) -> list[dict[str, Any]]:
    """The CA Secrets (the metrics API issues its serving certificate from the webhook CA itself)."""
    return [
        _secret(MESH_CA_SECRET, options.namespace, secrets.mesh_ca),
        _secret(WEBHOOK_CA_SECRET, options.namespace, secrets.webhook_ca),
    ]


def crds(options: InstallOptions, *, ca_bundle: bytes | None) -> list[dict[str, Any]]:
    out = []
    for crd in build_crds():
        conversion = crd["spec"].get("conversion") or {}
        client = (conversion.get("webhook") or {}).get("clientConfig")
        if client is not None:
            client["service"]["namespace"] = options.namespace
            if ca_bundle:
                client["caBundle"] = base64.b64encode(ca_bundle).decode()
        out.append(crd)
    return out


def _hook(name: str, options: InstallOptions, *, policy: str, injection: dict[str, Any],
          ca_bundle: bytes | None) -> dict[str, Any]:  # fmt: skip
    client: dict[str, Any] = {"service": {"name": NAME, "namespace": options.namespace, "path": INJECT_PATH,
                                          "port": 443}}  # fmt: skip
    if ca_bundle:
        client["caBundle"] = base64.b64encode(ca_bundle).decode()
    return {
        "name": name, "admissionReviewVersions": ["v1"], "sideEffects": "None", "failurePolicy": policy,
        "reinvocationPolicy": "Never", "matchPolicy": "Equivalent", "timeoutSeconds": 10, "clientConfig": client,
        "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"],
                   "scope": "Namespaced"}],
        "namespaceSelector": {"matchExpressions": [
            {"key": NAMESPACE_LABEL, "operator": "Exists"},
            injection,
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn",
             "values": sorted({"kube-system", options.namespace})},
        ]},
    }  # fmt: skip


def webhook_configuration(options: InstallOptions, *, ca_bundle: bytes | None) -> dict[str, Any]:
    """Three entries calling the same ``/inject`` (docs/cluster-mode.md, "Which pods get a sidecar"):

    * a namespace labelled ``smi-mesh.io/monitored-by``: fail closed (a pod is not created
      without its sidecar while the webhook is down) ...
    * ... unless it is also labelled ``smi-mesh.io/injection=optional``: fail open;
    * a pod labelled ``smi-mesh.io/inject=enabled`` (``smi inject``) in any other namespace:
      fail closed.
    The control plane's namespace and kube-system never match.
    """
    per_pod = _hook("pods.sidecar-injector.smi-mesh.io", options, policy="Fail", ca_bundle=ca_bundle,
                    injection={"key": NAMESPACE_LABEL, "operator": "DoesNotExist"})  # fmt: skip
    per_pod["namespaceSelector"]["matchExpressions"].pop(0)  # not the monitored-by Exists of the other two
    per_pod["objectSelector"] = {"matchLabels": {INJECT_LABEL: "enabled"}}
    return {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": WEBHOOK_CONFIGURATION, "labels": dict(PART_OF)},
        "webhooks": [
            _hook("sidecar-injector.smi-mesh.io", options, policy="Fail", ca_bundle=ca_bundle,
                  injection={"key": INJECTION_LABEL, "operator": "NotIn", "values": [OPTIONAL]}),
            _hook("optional.sidecar-injector.smi-mesh.io", options, policy="Ignore", ca_bundle=ca_bundle,
                  injection={"key": INJECTION_LABEL, "operator": "In", "values": [OPTIONAL]}),
            per_pod,
        ],
    }  # fmt: skip


def namespace(options: InstallOptions) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": options.namespace, "labels": dict(PART_OF)}}


def render(options: InstallOptions, *, secrets: Secrets | None, only: str | None = None) -> list[dict[str, Any]]:
    """Every object, in apply order.  ``secrets=None``: no Secrets and no caBundles (kustomize base).

    ``only``: ``"secrets"`` for just the namespace and the CA Secrets.
    """
    bundle = secrets.webhook_ca_bundle if secrets is not None else None
    head = [namespace(options), *(secrets_objects(options, secrets) if secrets is not None else [])]
    if only == "secrets":
        return head
    crd_objects = crds(options, ca_bundle=bundle)
    return [
        namespace(options), *crd_objects, *head[1:],
        *rbac(options, [c["metadata"]["name"] for c in crd_objects]),
        deployment(options), *service_and_budget(options),
        *metrics_api.objects(options, ca_bundle=bundle),
        webhook_configuration(options, ca_bundle=bundle),
    ]  # fmt: skip


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(objects: list[dict[str, Any]]) -> str:
    return yaml.dump_all([copy.deepcopy(o) for o in objects], Dumper=_NoAliases, sort_keys=False, width=120)


KUSTOMIZE_HEADER = "# Generated by `python -m smi.cluster.rendering` (smi install's objects); do not edit by hand.\n"


def kustomize_files() -> dict[str, str]:
    """manifests/install/: one file per group of objects, plus the kustomization (CRDs stay in manifests/crds/).

    ``metrics-api.yaml`` is the metrics engineer's own file, listed when present, never written here.
    """
    options = InstallOptions()
    theirs = {(o["kind"], o["metadata"]["name"]) for o in metrics_api.objects(options, ca_bundle=None)}
    objects = [o for o in render(options, secrets=None) if o["kind"] != "CustomResourceDefinition"]
    objects = [o for o in objects if (o["kind"], o["metadata"]["name"]) not in theirs]
    groups = {
        "namespace.yaml": ["Namespace"],
        "rbac.yaml": ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"],
        "controller.yaml": ["Deployment", "Service", "PodDisruptionBudget"],
        "webhook.yaml": ["MutatingWebhookConfiguration"],
    }
    files = {name: KUSTOMIZE_HEADER + to_yaml([o for o in objects if o["kind"] in kinds])
             for name, kinds in groups.items()}  # fmt: skip
    resources = [*list(groups)[:-1], *(["metrics-api.yaml"] if metrics_api.MANIFEST.exists() else []), "webhook.yaml"]
    kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                     "resources": resources}  # fmt: skip
    files["kustomization.yaml"] = (
        KUSTOMIZE_HEADER
        + "# kubectl apply -f manifests/crds/ && smi install --dry-run -o yaml --only secrets | kubectl apply -f -\n"
        + "# && kubectl apply -k manifests/install/   (the leader patches the caBundles in)\n"
        + yaml.dump(kustomization, sort_keys=False)
    )
    return files


def main(argv: list[str]) -> int:
    target = Path(argv[0]) if argv else Path(__file__).resolve().parents[2] / "manifests" / "install"
    target.mkdir(parents=True, exist_ok=True)
    for name, text in kustomize_files().items():
        (target / name).write_text(text, encoding="utf-8")
        print(target / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
