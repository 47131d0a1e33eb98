"""The checks of ``smi check``: each one a line, a verdict and, when it fails, what to do.

``--pre``: the API server answers and nothing of ours is in the way.  Default: the install
is healthy (CRDs and versions, the controller and its leader, the webhooks answering with a
valid caBundle, certificates not near expiry, the metrics, tap and monitoring APIServices).
``--proxy``: every meshed pod's sidecar is ready, which it only is once it holds a config from the control
plane (its ``/ready``, probed by the kubelet), and runs the config version the control
plane last sent it (``smi.cluster.proxyversions``).

The webhook check makes the API server call the webhook: a server-side dry-run create
(``?dryRun=All``, nothing is stored) of a pod labelled ``smi-mesh.io/inject=enabled``;
the API server verifies the webhook's certificate against the caBundle, so a wrong
caBundle, a stopped webhook or an expired certificate all fail this one line with the API
server's own words.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from smi.cluster import metrics_api
from smi.cluster.certificates import CA_CERT
from smi.cluster.kube import KubeClient, KubeError
from smi.cluster.leasing import parse_time
from smi.cluster.options import INJECT_LABEL, MESH_CA_SECRET, NAME, WEBHOOK_CA_SECRET, WEBHOOK_CONFIGURATION
from smi.cluster.resources import KINDS


@dataclass(frozen=True, slots=True)
class Check:
    group: str
    name: str
    ok: bool
    detail: str = ""
    hint: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"group": self.group, "check": self.name, "ok": self.ok, "detail": self.detail, "hint": self.hint}


@dataclass(frozen=True, slots=True)
class CheckContext:
    client: KubeClient
    namespace: str  # the control plane's
    expiry_warning: datetime.timedelta = datetime.timedelta(days=30)
    probe_namespace: str = "default"
    now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC)


def api_checks(ctx: CheckContext) -> Iterator[Check]:
    try:
        version = ctx.client.request("GET", "/version") or {}
    except KubeError as e:
        yield Check("kubernetes-api", "the API server answers", False, str(e), "check --kubeconfig / --context")
        return
    yield Check("kubernetes-api", "the API server answers", True,
                f"{ctx.client.server} ({version.get('gitVersion', 'version unknown')})")  # fmt: skip


def pre_checks(ctx: CheckContext) -> Iterator[Check]:
    from smi.cluster.options import InstallOptions
    from smi.cluster.rendering import crds

    for crd in crds(InstallOptions(namespace=ctx.namespace), ca_bundle=None):
        name = crd["metadata"]["name"]
        live = ctx.client.get(KINDS["CustomResourceDefinition"].path(name))
        ours = live is None or (live["metadata"].get("labels") or {}).get("app.kubernetes.io/part-of") == "smi-mesh"
        yield Check("pre-install", f"CRD {name} is free or ours", ours,
                    "" if ours else "installed by someone else (another SMI implementation?)",
                    "" if ours else f"kubectl get crd {name} -o yaml: remove it or keep the other mesh")  # fmt: skip


def crd_checks(ctx: CheckContext, bundle: str | None) -> Iterator[Check]:
    from smi.cluster.options import InstallOptions
    from smi.cluster.rendering import crds

    for crd in crds(InstallOptions(namespace=ctx.namespace), ca_bundle=None):
        name = crd["metadata"]["name"]
        live = ctx.client.get(KINDS["CustomResourceDefinition"].path(name))
        if live is None:
            yield Check("crds", f"CRD {name}", False, "missing", "smi install")
            continue
        want = {v["name"] for v in crd["spec"]["versions"]}
        served = {v.get("name") for v in live.get("spec", {}).get("versions", []) if v.get("served")}
        missing = sorted(want - served)
        detail = f"not served: {', '.join(missing)}" if missing else ""
        yield Check("crds", f"CRD {name} serves {', '.join(sorted(want))}", not missing, detail,
                    "smi upgrade" if missing else "")  # fmt: skip
        if (crd["spec"].get("conversion") or {}).get("strategy") != "Webhook":
            continue  # one version, nothing to convert: no webhook to trust
        client = (((live.get("spec") or {}).get("conversion") or {}).get("webhook") or {}).get("clientConfig") or {}
        good = bundle is not None and client.get("caBundle") == bundle
        yield Check("crds", f"CRD {name} conversion caBundle is the webhook CA", good,
                    "" if good else "differs from Secret smi-webhook-ca",
                    "" if good else "the controller's leader patches it within 30s; is it running?")  # fmt: skip


def _cert_expiry(ctx: CheckContext, secret: str, key: str) -> Check:
    live = ctx.client.get(KINDS["Secret"].path(secret, ctx.namespace))
    data = (live or {}).get("data") or {}
    if key not in data:
        return Check("certificates", f"Secret {secret} holds {key}", False, "missing", "smi install")
    try:
        certs = x509.load_pem_x509_certificates(base64.b64decode(data[key]))
    except ValueError as e:
        return Check("certificates", f"Secret {secret} holds {key}", False, f"not PEM: {e}")
    soonest = min(c.not_valid_after_utc for c in certs)
    left = soonest - ctx.now()
    ok = left > ctx.expiry_warning
    return Check("certificates", f"{secret} {key} is not near expiry", ok,
                 f"expires {soonest:%Y-%m-%d %H:%M} UTC ({left.days} days)",
                 "" if ok else "rotate it (docs/identity.md, docs/cluster-mode.md)")  # fmt: skip


def control_plane_checks(ctx: CheckContext) -> Iterator[Check]:
    deployment = ctx.client.get(KINDS["Deployment"].path(NAME, ctx.namespace))
    if deployment is None:
        yield Check("control-plane", "controller Deployment", False, f"no {ctx.namespace}/{NAME}", "smi install")
    else:
        want = int(deployment.get("spec", {}).get("replicas") or 1)
        ready = int((deployment.get("status") or {}).get("readyReplicas") or 0)
        yield Check("control-plane", "controller replicas ready", ready >= 1,
                    f"{ready}/{want} ready" + (" (no redundancy)" if ready < 2 <= want else ""),
                    "" if ready else f"kubectl -n {ctx.namespace} describe deploy/{NAME}")  # fmt: skip
    lease = ctx.client.get(KINDS["Lease"].path(NAME, ctx.namespace))
    spec = (lease or {}).get("spec") or {}
    renewed = parse_time(spec.get("renewTime"))
    fresh = bool(spec.get("holderIdentity")) and renewed is not None and (
        ctx.now() - renewed).total_seconds() <= float(spec.get("leaseDurationSeconds") or 15)  # fmt: skip
    yield Check("control-plane", "a controller leads (Lease)", fresh,
                f"{spec.get('holderIdentity')} renewed {(ctx.now() - renewed).total_seconds():.0f}s ago"
                if renewed is not None and spec.get("holderIdentity") else "nobody holds the Lease",
                "" if fresh else f"kubectl -n {ctx.namespace} logs deploy/{NAME} -c controller")  # fmt: skip


def webhook_checks(ctx: CheckContext, bundle: str | None) -> Iterator[Check]:
    config = ctx.client.get(KINDS["MutatingWebhookConfiguration"].path(WEBHOOK_CONFIGURATION))
    if config is None:
        yield Check("webhooks", "injection webhook configured", False, f"no {WEBHOOK_CONFIGURATION}", "smi install")
        return
    stale = [h.get("name") for h in config.get("webhooks") or []
             if (h.get("clientConfig") or {}).get("caBundle") != bundle]  # fmt: skip
    yield Check("webhooks", "injection webhooks' caBundle is the webhook CA", not stale,
                f"differs on {', '.join(map(str, stale))}" if stale else "",
                "the controller's leader patches it within 30s; is it running?" if stale else "")  # fmt: skip
    probe = {"apiVersion": "v1", "kind": "Pod",
             "metadata": {"generateName": "smi-check-", "namespace": ctx.probe_namespace,
                          "labels": {INJECT_LABEL: "enabled"}},
             "spec": {"containers": [{"name": "probe", "image": "smi-check-probe"}]}}  # fmt: skip
    try:
        answer = ctx.client.request("POST", KINDS["Pod"].collection(ctx.probe_namespace), probe,
                                    query=[("dryRun", "All")])  # fmt: skip
    except KubeError as e:
        yield Check("webhooks", "the injection webhook answers the API server", False, str(e),
                    f"kubectl -n {ctx.namespace} logs deploy/{NAME} -c webhook")  # fmt: skip
        return
    names = [c.get("name") for c in ((answer or {}).get("spec") or {}).get("containers") or []]
    injected = "smi-proxy" in names
    yield Check("webhooks", "the injection webhook answers the API server", injected,
                "a dry-run pod got its sidecar" if injected else f"a dry-run pod came back with {names}",
                "" if injected else "is the webhook configuration's objectSelector intact? (smi upgrade)")  # fmt: skip


def metrics_checks(ctx: CheckContext) -> Iterator[Check]:
    """Each APIService ``smi metrics-api`` serves (metrics, tap, monitoring) is ``Available``."""
    for name in metrics_api.APISERVICES:
        service = ctx.client.get(KINDS["APIService"].path(name))
        if service is None:
            yield Check("metrics-api", f"APIService {name}", False, "missing", "smi install")
            continue
        conditions = {c.get("type"): c for c in (service.get("status") or {}).get("conditions") or []}
        available = conditions.get("Available") or {}
        ok = available.get("status") == "True"
        yield Check("metrics-api", f"APIService {name} is Available", ok,
                    "" if ok else f"{available.get('reason', 'no status yet')}: {available.get('message', '')}".strip(),
                    "" if ok else f"kubectl get apiservice {name} -o yaml")  # fmt: skip


def proxy_checks(ctx: CheckContext, *, namespace: str | None) -> Iterator[Check]:
    """Every meshed pod's sidecar is ready and runs the config the control plane has for it (proxyversions)."""
    from smi.cluster.proxyversions import control_plane_versions, verdict
    from smi.injection import ANNOTATION_INBOUND_PORT
    from smi.injection.settings import SIDECAR_NAME

    pods = ctx.client.items(KINDS["Pod"].collection(namespace))
    meshed = [p for p in pods if ANNOTATION_INBOUND_PORT in ((p.get("metadata") or {}).get("annotations") or {})]
    if not meshed:
        yield Check("proxies", "meshed pods", True, "none found" + (f" in {namespace}" if namespace else ""))
        return
    versions = control_plane_versions(ctx.client, ctx.namespace, {p["metadata"].get("namespace", "") for p in meshed})
    for pod in meshed:
        meta = pod["metadata"]
        status = pod.get("status") or {}
        sidecar = next((c for c in status.get("containerStatuses") or [] if c.get("name") == SIDECAR_NAME), None)
        ok = bool(sidecar and sidecar.get("ready"))
        detail = f"phase {status.get('phase', 'unknown')}, sidecar not ready"
        if ok:
            ok, detail = verdict(ctx.client, versions, pod, SIDECAR_NAME)
        yield Check(
            "proxies",
            f"{meta.get('namespace')}/{meta.get('name')} sidecar has its config",
            ok,
            detail,
            "" if ok else f"kubectl -n {meta.get('namespace')} logs {meta.get('name')} -c {SIDECAR_NAME}",
        )


def run_checks(ctx: CheckContext, *, mode: str, namespace: str | None = None) -> list[Check]:
    """``mode``: pre | install | proxy."""
    results = list(api_checks(ctx))
    if not results[0].ok:
        return results
    if mode == "pre":
        return results + list(pre_checks(ctx))
    if mode == "proxy":
        return results + list(proxy_checks(ctx, namespace=namespace))
    secret = ctx.client.get(KINDS["Secret"].path(WEBHOOK_CA_SECRET, ctx.namespace))
    bundle = ((secret or {}).get("data") or {}).get(CA_CERT)
    results += list(crd_checks(ctx, bundle))
    results += list(control_plane_checks(ctx))
    results += list(webhook_checks(ctx, bundle))
    results.append(_cert_expiry(ctx, MESH_CA_SECRET, "ca.crt"))
    results.append(_cert_expiry(ctx, WEBHOOK_CA_SECRET, CA_CERT))
    results += list(metrics_checks(ctx))
    return results
