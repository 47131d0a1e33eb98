"""What ``smi install`` renders (and manifests/install/ for kustomize): well-formed, and the pieces fit.

What a user would hit on ``kubectl apply``: a webhook pointing at a Service or port that
does not exist, a Deployment whose selector misses its pods, a named targetPort no
container declares, container args the ``smi`` CLI does not accept, a watched kind the
ClusterRole forgets.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from smi.cli.main import build_parser
from smi.cluster.options import InstallOptions
from smi.cluster.rendering import kustomize_files, new_secrets, render
from smi.controllers.conversion import CONVERT_PATH
from smi.controllers.kinds import ALL
from smi.injection import NAMESPACE_LABEL
from smi.injection.webhook import INJECT_PATH

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "manifests" / "install"
CRDS = REPO / "manifests" / "crds"
NAMESPACE = "smi-system"
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration", "APIService",
                  "CustomResourceDefinition"}  # fmt: skip
# Bindings that must live elsewhere (the metrics API reads kube-system's front-proxy CA).
ELSEWHERE = {("RoleBinding", "smi-metrics-api:extension-apiserver-authentication-reader"): "kube-system"}


def documents(path: Path) -> Iterator[dict[str, Any]]:
    for doc in yaml.safe_load_all(path.read_text()):
        if doc is not None:
            yield doc


OPTIONS = InstallOptions()
OBJECTS = [(f"{doc['kind']}/{doc['metadata']['name']}", doc) for doc in render(OPTIONS, secrets=new_secrets(OPTIONS))]


def one(kind: str, name: str) -> dict[str, Any]:
    found = [doc for _, doc in OBJECTS if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected exactly one {kind} {name}, found {len(found)}"
    return found[0]


def pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = one("Deployment", "smi-controller")["spec"]["template"]["spec"]
    return spec


def container(name: str) -> dict[str, Any]:
    (found,) = [c for c in pod_spec()["containers"] if c["name"] == name]
    return found


def test_every_object_has_api_version_kind_name_and_the_right_namespace() -> None:
    assert {doc["kind"] for _, doc in OBJECTS} == {
        "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Deployment",
        "Service", "PodDisruptionBudget", "MutatingWebhookConfiguration", "APIService", "Secret",
        "CustomResourceDefinition",
    }  # fmt: skip
    for source, doc in OBJECTS:
        assert isinstance(doc.get("apiVersion"), str) and isinstance(doc.get("kind"), str), source
        assert doc["metadata"].get("name"), f"{source}: {doc['kind']} without a name"
        if doc["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in doc["metadata"], f"{source}: {doc['kind']} is cluster-scoped"
        else:
            expected = ELSEWHERE.get((doc["kind"], doc["metadata"]["name"]), NAMESPACE)
            assert doc["metadata"].get("namespace") == expected, f"{source}: {doc['kind']} {doc['metadata']['name']}"
    one("Namespace", NAMESPACE)


def test_kustomization_lists_every_install_file() -> None:
    kustomization = yaml.safe_load((INSTALL / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    listed = kustomization["resources"]
    assert sorted(listed) == sorted(p.name for p in INSTALL.glob("*.yaml") if p.name != "kustomization.yaml")
    assert listed[0] == "namespace.yaml"


def test_the_kustomize_files_are_what_smi_install_renders(update_golden: bool) -> None:
    """manifests/install/ is generated (``python -m smi.cluster.rendering``; ``--update-golden`` rewrites it)."""
    files = kustomize_files()
    if update_golden:
        for name, text in files.items():
            (INSTALL / name).write_text(text, encoding="utf-8")
    for name, text in files.items():
        assert (INSTALL / name).read_text() == text, f"stale {name}: python -m smi.cluster.rendering"
    kustomized = [doc for name in files if name != "kustomization.yaml" for doc in documents(INSTALL / name)]
    from smi.cluster import metrics_api

    theirs = {(d["kind"], d["metadata"]["name"]) for d in metrics_api.objects(OPTIONS, ca_bundle=None)}
    rendered = [d for _, d in OBJECTS if d["kind"] not in ("Secret", "CustomResourceDefinition")
                and (d["kind"], d["metadata"]["name"]) not in theirs]  # fmt: skip
    assert [(d["kind"], d["metadata"]["name"]) for d in kustomized] == [
        (d["kind"], d["metadata"]["name"]) for d in rendered
    ]


def test_the_controller_is_highly_available() -> None:
    deployment = one("Deployment", "smi-controller")
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    budget = one("PodDisruptionBudget", "smi-controller")
    assert budget["spec"]["minAvailable"] == 1
    assert (
        budget["spec"]["selector"]["matchLabels"].items()
        <= deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    args = build_parser().parse_args(container("controller")["args"])
    assert args.leader_elect and args.lease_namespace == NAMESPACE and args.lease_name == "smi-controller"
    assert str(args.webhook_ca_file).startswith(mount_of("controller", "webhook-ca") + "/")


def mount_of(container_name: str, volume: str) -> str:
    (mount,) = [m for m in container(container_name)["volumeMounts"] if m["name"] == volume]
    path: str = mount["mountPath"]
    return path


def test_the_ca_secrets_are_create_only_and_every_ca_bundle_is_the_webhook_ca() -> None:
    import base64

    secrets = {d["metadata"]["name"]: d for _, d in OBJECTS if d["kind"] == "Secret"}
    assert set(secrets) == {"smi-ca", "smi-webhook-ca"}  # the metrics API issues its serving pair from the webhook CA
    for secret in secrets.values():
        assert secret["metadata"]["annotations"]["smi-mesh.io/create-only"] == "true"
    assert set(secrets["smi-ca"]["data"]) >= {"ca.crt", "tls.crt", "tls.key"}
    bundle = secrets["smi-webhook-ca"]["data"]["ca.crt"]
    assert base64.b64decode(bundle).startswith(b"-----BEGIN CERTIFICATE-----")
    hooks = one("MutatingWebhookConfiguration", "smi-mesh-sidecar-injector")["webhooks"]
    assert {h["clientConfig"]["caBundle"] for h in hooks} == {bundle}
    for _, crd in OBJECTS:
        # a CRD with more than one version converts through the webhook (one version: strategy None)
        if crd["kind"] == "CustomResourceDefinition" and len(crd["spec"]["versions"]) > 1:
            assert crd["spec"]["conversion"]["webhook"]["clientConfig"]["caBundle"] == bundle
    assert one("APIService", "v1alpha1.metrics.smi-spec.io")["spec"]["caBundle"] == bundle
    assert one("APIService", "v1alpha1.tap.smi-mesh.io")["spec"]["caBundle"] == bundle
    assert one("APIService", "v1alpha1.monitoring.smi-mesh.io")["spec"]["caBundle"] == bundle


def test_the_deployment_selects_its_own_pods_and_runs_as_its_service_account() -> None:
    deployment = one("Deployment", "smi-controller")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    one("ServiceAccount", pod_spec()["serviceAccountName"])
    binding = one("ClusterRoleBinding", "smi-controller")
    one(binding["roleRef"]["kind"], binding["roleRef"]["name"])
    assert {"kind": "ServiceAccount", "name": pod_spec()["serviceAccountName"], "namespace": NAMESPACE} in (
        binding["subjects"]
    )


def test_the_service_selects_the_controller_pods_and_its_target_ports_exist() -> None:
    service = one("Service", "smi-controller")
    labels = one("Deployment", "smi-controller")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    declared = {(p["name"], p["containerPort"]) for c in pod_spec()["containers"] for p in c.get("ports", [])}
    for port in service["spec"]["ports"]:
        target = port["targetPort"]
        assert any(target in pair for pair in declared), f"Service port {port['name']}: no container port {target}"


def service_port(port: int) -> str:
    """The container port name behind a Service port."""
    (match,) = [p for p in one("Service", "smi-controller")["spec"]["ports"] if p["port"] == port]
    target: str = match["targetPort"]
    return target


def test_the_webhook_calls_the_injection_route_of_the_https_container() -> None:
    configuration = one("MutatingWebhookConfiguration", "smi-mesh-sidecar-injector")
    required, optional, per_pod = configuration["webhooks"]
    for hook in (required, optional, per_pod):
        service = hook["clientConfig"]["service"]
        assert (service["name"], service["namespace"], service["path"]) == ("smi-controller", NAMESPACE, INJECT_PATH)
        assert service_port(service["port"]) == "webhook"
        excluded = next(e for e in hook["namespaceSelector"]["matchExpressions"]
                        if e["key"] == "kubernetes.io/metadata.name")  # fmt: skip
        assert excluded == {"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                            "values": ["kube-system", NAMESPACE]}  # fmt: skip
    args = build_parser().parse_args(container("webhook")["args"])
    assert args.command == "webhook" and not args.plain_http
    assert args.listen[1] == next(p["containerPort"] for p in container("webhook")["ports"] if p["name"] == "webhook")
    # a meshed namespace fails closed; labelled optional, it fails open; a pod labelled for injection fails closed
    assert [h["failurePolicy"] for h in (required, optional, per_pod)] == ["Fail", "Ignore", "Fail"]
    assert {"key": "smi-mesh.io/injection", "operator": "NotIn", "values": ["optional"]} in (
        required["namespaceSelector"]["matchExpressions"]
    )
    assert {"key": "smi-mesh.io/injection", "operator": "In", "values": ["optional"]} in (
        optional["namespaceSelector"]["matchExpressions"]
    )
    assert per_pod["objectSelector"] == {"matchLabels": {"smi-mesh.io/inject": "enabled"}}
    hook = required
    assert (hook["sideEffects"], hook["admissionReviewVersions"]) == ("None", ["v1"])
    assert hook["rules"] == [
        {
            "operations": ["CREATE"],
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "resources": ["pods"],
            "scope": "Namespaced",
        }
    ]
    expressions = hook["namespaceSelector"]["matchExpressions"]
    assert {"key": NAMESPACE_LABEL, "operator": "Exists"} in expressions


def test_the_webhook_issues_its_certificate_from_the_mounted_webhook_ca() -> None:
    args = build_parser().parse_args(container("webhook")["args"])
    assert str(args.ca_dir) == mount_of("webhook", "webhook-ca")
    assert args.tls_cert_file is None and args.tls_key_file is None
    assert "smi-controller.smi-system.svc" in args.dns_name
    (volume,) = [v for v in pod_spec()["volumes"] if v["name"] == "webhook-ca"]
    assert volume["secret"]["secretName"] == "smi-webhook-ca"
    assert args.drain_grace == OPTIONS.drain_grace


def test_injected_proxies_are_pointed_at_the_config_server_service() -> None:
    webhook_args = build_parser().parse_args(container("webhook")["args"])
    url = urlsplit(webhook_args.control_plane_url)
    assert url.hostname == f"smi-controller.{NAMESPACE}.svc"
    assert url.port is not None and service_port(url.port) == "config"
    controller_args = build_parser().parse_args(container("controller")["args"])
    assert controller_args.command == "controller"
    listen_port = int(controller_args.listen.rpartition(":")[2])
    assert listen_port == next(p["containerPort"] for p in container("controller")["ports"] if p["name"] == "config")
    assert webhook_args.image == container("controller")["image"]


def test_the_controller_serves_tls_from_the_ca_secret_and_injected_proxies_trust_it() -> None:
    controller_args = build_parser().parse_args(container("controller")["args"])
    assert not controller_args.insecure_plaintext
    assert controller_args.authenticator == "tokenreview" and controller_args.token_audience == "smi-mesh"
    (mount,) = [m for m in container("controller")["volumeMounts"] if m["name"] == "ca"]
    assert str(controller_args.ca_dir) == mount["mountPath"]
    (volume,) = [v for v in pod_spec()["volumes"] if v["name"] == "ca"]
    assert volume["secret"]["secretName"] == "smi-ca"
    webhook_args = build_parser().parse_args(container("webhook")["args"])
    assert webhook_args.control_plane_url.startswith("https://")
    assert str(webhook_args.trust_bundle_file) == f"{mount['mountPath']}/ca.crt"
    assert urlsplit(webhook_args.control_plane_url).hostname in controller_args.tls_dns_name
    for probe in ("readinessProbe", "livenessProbe"):
        assert container("controller")[probe]["httpGet"]["scheme"] == "HTTPS"


@pytest.mark.parametrize("name", sorted(n for n, d in OBJECTS if d["kind"] == "CustomResourceDefinition"))
def test_crd_conversion_webhooks_reach_the_convert_route(name: str) -> None:
    doc = dict(OBJECTS)[name]
    conversion = doc["spec"].get("conversion", {})
    if conversion.get("strategy") != "Webhook":
        pytest.skip(f"{name} has no conversion webhook")
    service = conversion["webhook"]["clientConfig"]["service"]
    assert (service["name"], service["namespace"], service["path"]) == ("smi-controller", NAMESPACE, CONVERT_PATH)
    assert service_port(service.get("port", 443)) == "webhook"


def allowed(group: str, resource: str, verb: str) -> bool:
    rules = one("ClusterRole", "smi-controller")["rules"]
    return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in rules)


def test_the_cluster_role_covers_every_watched_kind_and_status_writes() -> None:
    for watched in ALL:
        for verb in ("list", "watch"):
            assert allowed(watched.group, watched.plural, verb), f"{verb} {watched.plural}.{watched.group or 'core'}"
        if watched.group.endswith("smi-spec.io"):
            assert allowed(watched.group, watched.plural, "patch")
            assert allowed(watched.group, f"{watched.plural}/status", "patch")
    assert allowed("", "events", "create")
    assert allowed("authentication.k8s.io", "tokenreviews", "create")
    assert allowed("apiextensions.k8s.io", "customresourcedefinitions", "list")
    assert allowed("apiextensions.k8s.io", "customresourcedefinitions", "patch")
    assert allowed("admissionregistration.k8s.io", "mutatingwebhookconfigurations", "patch")


def test_rbac_grants_only_what_the_code_uses() -> None:
    rules = one("ClusterRole", "smi-controller")["rules"]
    verbs = {v for r in rules for v in r["verbs"]}
    assert verbs <= {"list", "watch", "get", "patch", "create"}  # never delete, update or escalate
    assert not any("*" in r["verbs"] or "*" in r["resources"] or "secrets" in r["resources"] for r in rules)
    for rule in rules:  # the caBundle writes name their objects
        if rule["apiGroups"] != [""] and "patch" in rule["verbs"] and not rule["apiGroups"][0].endswith("smi-spec.io"):
            assert rule.get("resourceNames"), rule
    lease_rules = one("Role", "smi-controller")["rules"]
    assert {v for r in lease_rules for v in r["verbs"]} == {"create", "get", "patch"}
    assert all(r["resources"] == ["leases"] for r in lease_rules)


def test_the_control_plane_never_runs_as_root() -> None:
    assert pod_spec()["securityContext"]["runAsNonRoot"] is True
    for c in pod_spec()["containers"]:
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert c["imagePullPolicy"] == "IfNotPresent"  # kind loads the image; :latest would mean Always
