"""HOOK for the metrics API (issue 10): what ``smi install`` renders for it.

The metrics engineer ships ``manifests/install/metrics-api.yaml`` (``smi metrics-api``'s
ServiceAccount, RBAC, Deployment, Service and the ``APIService`` that registers
``metrics.smi-spec.io/v1alpha1``).  When that file is present (a checkout of the
repository), ``smi install`` renders its objects, in the control plane's namespace, with:

* the APIService's ``caBundle`` set to the webhook CA (the leader keeps it so), and
* the serving certificate Secret it mounts (``smi-metrics-api-tls``: ``tls.crt``,
  ``tls.key``, for ``smi-metrics-api.<ns>.svc``) issued from the webhook CA once, like the
  other CA Secrets (create-only; ``smi check`` reports its expiry).

Without the file (a wheel install) only the APIService is rendered, pointing at Service
``smi-metrics-api``.  ``smi check`` reports the APIService's ``Available`` condition.
"""

from __future__ import annotations

import base64
import datetime
from pathlib import Path
from typing import Any

import yaml

from smi.cluster.options import PART_OF, InstallOptions

GROUP = "metrics.smi-spec.io"
VERSION = "v1alpha1"
SERVICE = "smi-metrics-api"
APISERVICE = f"{VERSION}.{GROUP}"
TLS_SECRET = "smi-metrics-api-tls"
TLS_LIFETIME = datetime.timedelta(days=365)
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


def tls_secret_data(options: InstallOptions, ca_cert_pem: bytes, ca_key_pem: bytes) -> dict[str, str]:
    from smi.cluster.certificates import WebhookCA, issue_serving, service_dns_names

    ca = WebhookCA(cert_pem=ca_cert_pem, key_pem=ca_key_pem)
    names = service_dns_names(SERVICE, options.namespace)
    chain, key, _ = issue_serving(ca, dns_names=names, lifetime=TLS_LIFETIME)
    return {"tls.crt": base64.b64encode(chain).decode(), "tls.key": base64.b64encode(key).decode()}


def objects(options: InstallOptions, *, ca_bundle: bytes | None) -> list[dict[str, Any]]:
    docs = manifest_objects(options)
    if not any(d.get("kind") == "APIService" for d in docs):
        docs.append({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                     "metadata": {"name": APISERVICE, "labels": dict(PART_OF)},
                     "spec": {"group": GROUP, "version": VERSION, "groupPriorityMinimum": 1000,
                              "versionPriority": 15,
                              "service": {"name": SERVICE, "namespace": options.namespace, "port": 443}}})  # fmt: skip
    for doc in docs:
        if doc.get("kind") == "APIService":
            if ca_bundle:
                doc["spec"]["caBundle"] = base64.b64encode(ca_bundle).decode()
            else:
                doc["spec"].pop("caBundle", None)
    return docs
