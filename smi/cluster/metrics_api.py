"""HOOK for the metrics API (issue 10): what ``smi install`` renders for it.

The metrics engineer ships ``manifests/install/metrics-api.yaml`` (``smi metrics-api``'s
ServiceAccount, RBAC, Deployment, Service and the ``APIService`` that registers
``metrics.smi-spec.io/v1alpha1``).  When that file is present (a checkout of the
repository), ``smi install`` renders its objects, in the control plane's namespace, with:

* the ``caBundle`` of its three APIServices (``v1alpha1.metrics.smi-spec.io``,
  ``v1alpha1.tap.smi-mesh.io`` and ``v1alpha1.monitoring.smi-mesh.io``, the page's
  monitoring levels) set to the webhook CA; the leader keeps it so
  (``smi.cluster.cabundles``, ``--apiservice``), and
* no serving certificate Secret: like each ``smi webhook`` replica, ``smi metrics-api
  --ca-dir`` (the mounted ``smi-webhook-ca``) issues its own short-lived serving
  certificate and re-issues it at half its life without a restart
  (``smi.cluster.certificates.ServingCertificate``).

Without the file (a wheel install) only the APIServices are rendered, pointing at Service
``smi-metrics-api``.  ``smi check`` reports each APIService's ``Available`` condition.
The metrics API's mesh identity (``identity``) is what injected sidecars let tap them.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from smi.cluster.options import PART_OF, InstallOptions

GROUP = "metrics.smi-spec.io"
VERSION = "v1alpha1"
SERVICE = "smi-metrics-api"
APISERVICE = f"{VERSION}.{GROUP}"
TAP_GROUP = "tap.smi-mesh.io"
TAP_APISERVICE = f"{VERSION}.{TAP_GROUP}"
MONITORING_GROUP = "monitoring.smi-mesh.io"  # traffic_metrics.levels.LEVELS_GROUP
MONITORING_APISERVICE = f"{VERSION}.{MONITORING_GROUP}"
GROUPS = (GROUP, TAP_GROUP, MONITORING_GROUP)
APISERVICES = tuple(f"{VERSION}.{group}" for group in GROUPS)  # all served by Service smi-metrics-api
SERVICE_ACCOUNT = "smi-metrics-api"
MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "install" / "metrics-api.yaml"


def manifest_objects(options: InstallOptions, path: Path = MANIFEST) -> list[dict[str, Any]]:
    """The metrics engineer's objects, moved to the control plane's namespace ([] when absent)."""
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if isinstance(d, dict)]
    except OSError:
        return []
    for doc in docs:
        meta = doc.setdefault("metadata", {})
        if meta.get("namespace") == "smi-system":
            meta["namespace"] = options.namespace
        for subject in doc.get("subjects") or []:
            if subject.get("namespace") == "smi-system":
                subject["namespace"] = options.namespace
        service = (doc.get("spec") or {}).get("service") if doc.get("kind") == "APIService" else None
        if isinstance(service, dict):
            service["namespace"] = options.namespace
    return docs


def identity(options: InstallOptions) -> str:
    """The metrics API's SPIFFE id: the one client injected sidecars serve tap to."""
    from smi.proxyconfig.spiffe import spiffe_id

    return spiffe_id(options.trust_domain, options.namespace, SERVICE_ACCOUNT)


def _apiservice(options: InstallOptions, group: str) -> dict[str, Any]:
    return {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": f"{VERSION}.{group}", "labels": dict(PART_OF)},
            "spec": {"group": group, "version": VERSION, "groupPriorityMinimum": 1000, "versionPriority": 15,
                     "service": {"name": SERVICE, "namespace": options.namespace, "port": 443}}}  # fmt: skip


def objects(options: InstallOptions, *, ca_bundle: bytes | None) -> list[dict[str, Any]]:
    docs = manifest_objects(options)
    if not any(d.get("kind") == "APIService" for d in docs):
        docs += [_apiservice(options, group) for group in GROUPS]
    for doc in docs:
        if doc.get("kind") == "APIService":
            if ca_bundle:
                doc["spec"]["caBundle"] = base64.b64encode(ca_bundle).decode()
            else:
                doc["spec"].pop("caBundle", None)
    return docs
