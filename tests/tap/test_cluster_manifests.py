"""What ``smi install`` renders for tap fits together: a user would hit each of these on a real cluster.

* the tap APIService reaches the metrics API's Service, and users have a ClusterRole to bind;
* ``smi metrics-api`` gets its serving certificate from the mounted webhook CA (rotated by
  itself) and its mesh identity from the mesh CA (token of audience smi-mesh, trust
  bundle only, never the mesh CA's key);
* every injected sidecar serves tap on the port the metrics API dials, to exactly the
  metrics API's SPIFFE id, and that port is never captured by the pod's iptables rules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from smi.cli.main import build_parser
from smi.cli.webhook import settings_from
from smi.cluster import metrics_api as install
from smi.cluster.options import InstallOptions
from smi.cluster.rendering import render
from smi.cluster.workloads import webhook_container
from smi.injection.containers import init_container, sidecar
from smi.injection.deciding import Exclusions
from smi.proxyconfig.spiffe import spiffe_id

OPTIONS = InstallOptions()
OBJECTS = render(OPTIONS, secrets=None)


def one(kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in OBJECTS if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def metrics_api_pod() -> dict[str, Any]:
    spec: dict[str, Any] = one("Deployment", "smi-metrics-api")["spec"]["template"]["spec"]
    return spec


def test_the_tap_apiservice_and_the_role_users_are_bound_to() -> None:
    tap = one("APIService", install.TAP_APISERVICE)
    assert (tap["spec"]["group"], tap["spec"]["version"]) == ("tap.smi-mesh.io", "v1alpha1")
    service = one("Service", "smi-metrics-api")
    assert tap["spec"]["service"] == {"name": "smi-metrics-api", "namespace": OPTIONS.namespace, "port": 443}
    assert service["spec"]["ports"][0]["port"] == 443
    rules = one("ClusterRole", "smi-tap")["rules"]
    assert rules == [{"apiGroups": ["tap.smi-mesh.io"], "resources": ["*"], "verbs": ["watch"]}]
    labels = one("ClusterRole", "smi-tap")["metadata"]["labels"]
    assert not any(k.startswith("rbac.authorization.k8s.io/aggregate") for k in labels)  # bound on purpose only


def test_the_metrics_api_issues_its_serving_certificate_and_gets_a_mesh_identity() -> None:
    pod = metrics_api_pod()
    (container,) = pod["containers"]
    env = {"SMI_POD_NAMESPACE": OPTIONS.namespace, "SMI_SERVICE_ACCOUNT": pod["serviceAccountName"]}
    argv = [a.replace("$(SMI_POD_NAMESPACE)", env["SMI_POD_NAMESPACE"])
            .replace("$(SMI_SERVICE_ACCOUNT)", env["SMI_SERVICE_ACCOUNT"]) for a in container["args"]]  # fmt: skip
    args = build_parser().parse_args(argv)
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}

    def volume_of(path: str) -> dict[str, Any]:
        mount = next(p for p in mounts if path.startswith(p + "/") or path == p)
        return volumes[mounts[mount]]

    assert volume_of(str(args.ca_dir))["secret"]["secretName"] == "smi-webhook-ca"
    mesh_ca = volume_of(str(args.trust_bundle))["secret"]
    assert mesh_ca["secretName"] == "smi-ca" and mesh_ca["items"] == [{"key": "ca.crt", "path": "ca.crt"}]
    token = volume_of(str(args.token_file))["projected"]["sources"][0]["serviceAccountToken"]
    assert token["audience"] == "smi-mesh"
    assert args.ca_url == f"https://smi-controller.{OPTIONS.namespace}.svc:15010/ca"
    assert spiffe_id(args.trust_domain, args.namespace, args.service_account) == install.identity(OPTIONS)


def test_injected_sidecars_serve_tap_to_the_metrics_api_only_on_an_uncaptured_port(tmp_path: Path) -> None:
    webhook = build_parser().parse_args(webhook_container(OPTIONS)["args"])
    (tmp_path / "ca.crt").write_text("PEM")  # the mounted trust bundle
    webhook.trust_bundle_file = tmp_path / "ca.crt"
    settings = settings_from(webhook)
    container = sidecar(settings)
    proxy = build_parser().parse_args(
        [a.replace("$(SMI_POD_NAMESPACE)", "shop").replace("$(SMI_POD_NAME)", "web-1") for a in container["args"]]
    )
    assert proxy.tap_identity == [install.identity(OPTIONS)]
    metrics = build_parser().parse_args(
        [a.replace("$(SMI_POD_NAMESPACE)", "smi-system") for a in metrics_api_pod()["containers"][0]["args"]]
    )
    assert proxy.tap == ("0.0.0.0", metrics.tap_port)
    assert {"name": "smi-tap", "containerPort": metrics.tap_port, "protocol": "TCP"} in container["ports"]
    init = build_parser().parse_args(init_container(settings, Exclusions((), (), ()))["args"])
    assert metrics.tap_port in init.proxy_ports
