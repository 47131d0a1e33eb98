"""HOOK for the metrics API (issue 10): what ``smi install`` renders for it.

The metrics engineer's API server and its Deployment/Service belong here (or in a YAML file
this module loads) once they exist; until then ``smi install`` renders only the
``APIService`` that registers ``metrics.smi-spec.io/v1alpha1`` with the aggregation layer,
pointing at Service ``smi-metrics`` in the control plane's namespace, verified with the
webhook CA (the metrics server can issue its serving certificate from the same CA the way
``smi webhook --ca-dir`` does).  ``smi check`` reports the APIService's ``Available``
condition.
"""

from __future__ import annotations

import base64
from typing import Any

from smi.cluster.options import PART_OF, InstallOptions

GROUP = "metrics.smi-spec.io"
VERSION = "v1alpha1"
SERVICE = "smi-metrics"
APISERVICE = f"{VERSION}.{GROUP}"


def objects(options: InstallOptions, *, ca_bundle: bytes | None) -> list[dict[str, Any]]:
    spec: dict[str, Any] = {
        "group": GROUP,
        "version": VERSION,
        "groupPriorityMinimum": 1000,
        "versionPriority": 15,
        "service": {"name": SERVICE, "namespace": options.namespace, "port": 443},
    }
    if ca_bundle:
        spec["caBundle"] = base64.b64encode(ca_bundle).decode()
    return [
        {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
         "metadata": {"name": APISERVICE, "labels": dict(PART_OF)}, "spec": spec},
    ]  # fmt: skip
