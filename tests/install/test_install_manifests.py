"""manifests/install/: every object is well-formed and the pieces refer to each other correctly.

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
from smi.controllers.conversion import CONVERT_PATH
from smi.controllers.kinds import ALL
from smi.injection import NAMESPACE_LABEL
from smi.injection.webhook import INJECT_PATH

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "manifests" / "install"
CRDS = REPO / "manifests" / "crds"
NAMESPACE = "smi-system"
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration", "APIService"}
# Bindings that must live elsewhere (the metrics API reads kube-system's front-proxy CA).
ELSEWHERE = {("RoleBinding", "smi-metrics-api:extension-apiserver-authentication-reader"): "kube-system"}


def documents(path: Path) -> Iterator[dict[str, Any]]:
    for doc in yaml.safe_load_all(path.read_text()):
        if doc is not None:
            yield doc


OBJECTS = [(path.name, doc) for path in sorted(INSTALL.glob("*.yaml")) if path.name != "kustomization.yaml"
           for doc in documents(path)]  # fmt: skip


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
    assert {doc["kind"] for _, doc in OBJECTS} >= {
        "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment", "Service",
        "MutatingWebhookConfiguration",
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
    (hook,) = configuration["webhooks"]
    service = hook["clientConfig"]["service"]
    assert (service["name"], service["namespace"], service["path"]) == ("smi-controller", NAMESPACE, INJECT_PATH)
    assert service_port(service["port"]) == "webhook"
    args = build_parser().parse_args(container("webhook")["args"])
    assert args.command == "webhook" and not args.plain_http
    assert args.listen[1] == next(p["containerPort"] for p in container("webhook")["ports"] if p["name"] == "webhook")
    assert (hook["failurePolicy"], hook["sideEffects"], hook["admissionReviewVersions"]) == ("Ignore", "None", ["v1"])
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


def test_the_webhook_tls_files_come_from_the_mounted_secret() -> None:
    args = build_parser().parse_args(container("webhook")["args"])
    (mount,) = [m for m in container("webhook")["volumeMounts"] if m["name"] == "webhook-tls"]
    for path in (args.tls_cert_file, args.tls_key_file):
        assert str(path).startswith(mount["mountPath"] + "/")
    (volume,) = [v for v in pod_spec()["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"]["secretName"] == "smi-webhook-tls"


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


@pytest.mark.parametrize("crd", sorted(CRDS.glob("*.yaml")), ids=lambda p: p.name)
def test_crd_conversion_webhooks_reach_the_convert_route(crd: Path) -> None:
    (doc,) = documents(crd)
    conversion = doc["spec"].get("conversion", {})
    if conversion.get("strategy") != "Webhook":
        pytest.skip(f"{crd.name} has no conversion webhook")
    service = conversion["webhook"]["clientConfig"]["service"]
    assert (service["name"], service["namespace"], service["path"]) == ("smi-controller", NAMESPACE, CONVERT_PATH)
    assert service_port(service.get("port", 443)) == "webhook"


def allowed(group: str, resource: str, verb: str) -> bool:
    rules = one("ClusterRole", "smi-controller")["rules"]
    return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in rules)


def test_the_cluster_role_covers_every_watched_kind_and_status_writes() -> None:
    for watched in ALL:
        for verb in ("get", "list", "watch"):
            assert allowed(watched.group, watched.plural, verb), f"{verb} {watched.plural}.{watched.group or 'core'}"
        if watched.group.endswith("smi-spec.io"):
            assert allowed(watched.group, watched.plural, "patch")
            assert allowed(watched.group, f"{watched.plural}/status", "patch")
    assert allowed("", "events", "create")
    assert allowed("authentication.k8s.io", "tokenreviews", "create")
    assert allowed("apiextensions.k8s.io", "customresourcedefinitions", "list")
    assert allowed("apiextensions.k8s.io", "customresourcedefinitions", "patch")


def test_the_control_plane_never_runs_as_root() -> None:
    assert pod_spec()["securityContext"]["runAsNonRoot"] is True
    for c in pod_spec()["containers"]:
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert c["imagePullPolicy"] == "IfNotPresent"  # kind loads the image; :latest would mean Always
