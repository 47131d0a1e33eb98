"""The leader keeps every ``caBundle`` equal to the webhook CA: the injection webhooks, the SMI
CRDs' conversion webhooks and the metrics APIService.

It re-reads the CA file (the mounted Secret) each round, so replacing the Secret's ``ca.crt``
(a CA rotation: put the old and the new certificate in it, then the new key) reaches the
API server without a restart.  Only differing objects are patched; a missing one is
skipped (``kubectl apply -k`` users may not have them all).
"""

from __future__ import annotations

import base64
import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smi.cluster.restclient import RestClient

logger = logging.getLogger(__name__)

WEBHOOKS = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
APISERVICES = "/apis/apiregistration.k8s.io/v1/apiservices/"


@dataclass(frozen=True, slots=True)
class BundleTargets:
    ca_file: Path
    webhook_configuration: str
    crds: Sequence[str]
    apiservices: Sequence[str] = ()


def smi_crd_names() -> list[str]:
    from smi.crds import NAMES
    from smi.schemas import SERVED

    return [f"{NAMES[kind].plural}.{SERVED[kind][0].rpartition('/')[0]}" for kind in NAMES]


async def sync_once(api: RestClient, targets: BundleTargets) -> list[str]:
    """Patch what differs; returns the objects patched (``kind/name``)."""
    try:
        bundle = base64.b64encode(targets.ca_file.read_bytes()).decode()
    except OSError as e:
        logger.warning("caBundle: cannot read %s: %s", targets.ca_file, e.strerror)
        return []
    patched = []
    config = await api.get(WEBHOOKS + targets.webhook_configuration)
    if config is not None:
        hooks: list[dict[str, Any]] = copy.deepcopy(config.get("webhooks") or [])
        if any((h.get("clientConfig") or {}).get("caBundle") != bundle for h in hooks):
            for hook in hooks:
                hook.setdefault("clientConfig", {})["caBundle"] = bundle
            await api.merge_patch(WEBHOOKS + targets.webhook_configuration, {"webhooks": hooks})
            patched.append(f"mutatingwebhookconfiguration/{targets.webhook_configuration}")
    for name in targets.crds:
        crd = await api.get(CRDS + name)
        conversion = ((crd or {}).get("spec") or {}).get("conversion") or {}
        if conversion.get("strategy") != "Webhook":
            continue
        if ((conversion.get("webhook") or {}).get("clientConfig") or {}).get("caBundle") != bundle:
            patch = {"spec": {"conversion": {"webhook": {"clientConfig": {"caBundle": bundle}}}}}
            await api.merge_patch(CRDS + name, patch)
            patched.append(f"customresourcedefinition/{name}")
    for name in targets.apiservices:
        service = await api.get(APISERVICES + name)
        if service is not None and (service.get("spec") or {}).get("caBundle") != bundle:
            await api.merge_patch(APISERVICES + name, {"spec": {"caBundle": bundle}})
            patched.append(f"apiservice/{name}")
    if patched:
        logger.info("caBundle patched on %s", ", ".join(patched))
    return patched
