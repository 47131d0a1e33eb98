"""``inject``: the patch a pod gets, applied and inspected the way the kubelet would see the pod."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from proxy.init import CaptureSettings
from smi.cli.main import build_parser
from smi.cli.proxy_init import settings_from
from smi.injection import InjectionSettings, InvalidAnnotation, MalformedPod, apply_patch, inject, skip_reason
from smi.injection.patches import pointer

SETTINGS = InjectionSettings(image="registry.example/smi-mesh:1.2", control_plane_url="https://cp.smi-system.svc:15010")


def app_pod(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "web-", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {
            "serviceAccountName": "web",
            "containers": [{"name": "web", "image": "web:1", "ports": [{"containerPort": 8080}]}],
            **spec,
        },
    }


def injected(pod: dict[str, Any], settings: InjectionSettings = SETTINGS) -> dict[str, Any]:
    return apply_patch(pod, inject(pod, settings=settings))


def container(pod: dict[str, Any], name: str, field: str = "containers") -> dict[str, Any]:
    found = [c for c in pod["spec"].get(field, []) if c["name"] == name]
    assert len(found) == 1, f"{name} in {field}: {pod['spec'].get(field)}"
    result: dict[str, Any] = found[0]
    return result


def test_a_plain_pod_gets_sidecar_init_container_volume_and_the_meshed_annotation() -> None:
    pod = injected(app_pod())
    assert pod["metadata"]["annotations"] == {
        "smi-mesh.io/inbound-port": "15003",
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "15000",
        "prometheus.io/path": "/metrics",
    }
    assert [c["name"] for c in pod["spec"]["containers"]] == ["web", "smi-proxy"]
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["smi-proxy-init"]
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["smi-mesh-token"]
    assert pod["metadata"]["labels"] == {"app": "web"}


def test_the_sidecar_runs_smi_proxy_for_this_pod_as_uid_1337() -> None:
    proxy = container(injected(app_pod()), "smi-proxy")
    assert proxy["image"] == "registry.example/smi-mesh:1.2"
    assert proxy["command"] == ["smi"]
    args = build_parser().parse_args(
        [a.replace("$(SMI_POD_NAMESPACE)", "shop").replace("$(SMI_POD_NAME)", "web-x1") for a in proxy["args"]]
    )
    assert args.command == "proxy"
    assert args.control_plane == "https://cp.smi-system.svc:15010"
    assert (args.namespace, args.pod) == ("shop", "web-x1")
    assert args.inbound == ("0.0.0.0", 15003)
    assert args.outbound == ("127.0.0.1", 15001)
    assert args.admin == ("0.0.0.0", 15000)  # the kubelet probes it on the pod IP
    env = {e["name"]: e for e in proxy["env"]}
    assert env["SMI_POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["SMI_POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["SMI_TOKEN_FILE"]["value"] == "/var/run/secrets/smi-mesh/token"
    assert {p["containerPort"] for p in proxy["ports"]} == {15000, 15001, 15003}
    assert proxy["readinessProbe"]["httpGet"] == {"path": "/ready", "port": 15000}
    assert proxy["livenessProbe"]["httpGet"] == {"path": "/live", "port": 15000}
    assert proxy["resources"]["requests"] == {"cpu": "50m", "memory": "64Mi"}
    security = proxy["securityContext"]
    assert security["runAsUser"] == 1337
    assert security["runAsNonRoot"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}


def test_the_sidecar_runs_strict_mtls_with_the_injected_token_bundle_and_service_account(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    import dataclasses

    from smi.cli.proxy import mtls_settings

    settings = dataclasses.replace(SETTINGS, trust_bundle="-----BEGIN CERTIFICATE-----\nroots\n")
    proxy = container(injected(app_pod(), settings), "smi-proxy")
    env = {e["name"]: e for e in proxy["env"]}
    assert env["SMI_SERVICE_ACCOUNT"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.serviceAccountName"
    # The kubelet sets these; the proxy's flags default to them.
    monkeypatch.setenv("SMI_TOKEN_FILE", env["SMI_TOKEN_FILE"]["value"])
    monkeypatch.setenv("SMI_TRUST_BUNDLE", env["SMI_TRUST_BUNDLE"]["value"])
    monkeypatch.setenv("SMI_SERVICE_ACCOUNT", "web")
    args = build_parser().parse_args(
        [a.replace("$(SMI_POD_NAMESPACE)", "shop").replace("$(SMI_POD_NAME)", "web-x1") for a in proxy["args"]]
    )
    tls = mtls_settings(args)
    assert tls["mtls"] == "strict"
    assert tls["ca_url"] == "https://cp.smi-system.svc:15010/ca"
    assert str(tls["token_file"]) == "/var/run/secrets/smi-mesh/token"
    assert tls["trust_bundle_pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert tls["identity"] == "spiffe://cluster.local/ns/shop/sa/web"


def test_the_proxy_authenticates_with_a_projected_token_for_the_mesh_audience() -> None:
    pod = injected(app_pod())
    (volume,) = pod["spec"]["volumes"]
    (source,) = volume["projected"]["sources"]
    assert source["serviceAccountToken"]["audience"] == "smi-mesh"
    assert source["serviceAccountToken"]["path"] == "token"
    mounts = container(pod, "smi-proxy")["volumeMounts"]
    assert mounts == [{"name": "smi-mesh-token", "mountPath": "/var/run/secrets/smi-mesh", "readOnly": True}]
    assert "volumeMounts" not in container(pod, "web")  # the app does not see the mesh token


def test_the_init_container_installs_capture_as_root_with_only_net_admin_and_net_raw() -> None:
    init = container(injected(app_pod()), "smi-proxy-init", "initContainers")
    args = build_parser().parse_args(init["args"])
    assert args.command == "proxy-init" and not args.cleanup and not args.dry_run
    assert settings_from(args) == CaptureSettings(proxy_uid=1337, inbound_port=15003, outbound_port=15001)
    security = init["securityContext"]
    assert (security["runAsUser"], security["runAsNonRoot"], security["privileged"]) == (0, False, False)
    assert security["capabilities"] == {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]}


def test_existing_annotations_init_containers_and_volumes_are_kept_and_appended_to() -> None:
    pod = app_pod(initContainers=[{"name": "migrate", "image": "m:1"}], volumes=[{"name": "data", "emptyDir": {}}])
    pod["metadata"]["annotations"] = {"team": "shop", "a/b~c": "x"}
    result = injected(pod)
    assert result["metadata"]["annotations"] == {
        "team": "shop", "a/b~c": "x", "smi-mesh.io/inbound-port": "15003",
        "prometheus.io/scrape": "true", "prometheus.io/port": "15000", "prometheus.io/path": "/metrics",
    }  # fmt: skip
    assert [c["name"] for c in result["spec"]["initContainers"]] == ["migrate", "smi-proxy-init"]
    assert [v["name"] for v in result["spec"]["volumes"]] == ["data", "smi-mesh-token"]
    ops = inject(pod, settings=SETTINGS)
    assert {op["path"] for op in ops} == {
        "/metadata/annotations/smi-mesh.io~1inbound-port",
        "/metadata/annotations/prometheus.io~1scrape",
        "/metadata/annotations/prometheus.io~1port",
        "/metadata/annotations/prometheus.io~1path",
        "/spec/initContainers/-",
        "/spec/containers/-",
        "/spec/volumes/-",
    }
    assert all(op["op"] == "add" for op in ops)


def test_injection_is_idempotent() -> None:
    once = injected(app_pod())
    assert inject(once, settings=SETTINGS) == []
    assert skip_reason(once) == "already injected"


def test_opt_out_annotation_and_host_network_pods_are_skipped() -> None:
    pod = app_pod()
    pod["metadata"]["annotations"] = {"smi-mesh.io/inject": "false"}
    assert inject(pod, settings=SETTINGS) == []
    assert "opts out" in (skip_reason(pod) or "")
    assert inject(app_pod(hostNetwork=True), settings=SETTINGS) == []
    assert "hostNetwork" in (skip_reason(app_pod(hostNetwork=True)) or "")
    explicit = app_pod()
    explicit["metadata"]["annotations"] = {"smi-mesh.io/inject": "true"}
    assert inject(explicit, settings=SETTINGS) != []


def test_exclusion_annotations_and_cluster_wide_exclusions_reach_the_init_container() -> None:
    pod = app_pod()
    pod["metadata"]["annotations"] = {
        "smi-mesh.io/exclude-inbound-ports": "22, 8081",
        "smi-mesh.io/exclude-outbound-ports": "5432",
        "smi-mesh.io/exclude-outbound-cidrs": "192.0.2.0/24",
    }
    settings = InjectionSettings(exclude_outbound_cidrs=("10.96.0.1/32",))
    init = container(injected(pod, settings), "smi-proxy-init", "initContainers")
    capture = settings_from(build_parser().parse_args(init["args"]))
    assert capture.exclude_inbound_ports == (22, 8081)
    assert capture.exclude_outbound_ports == (5432,)
    assert capture.exclude_outbound_cidrs == ("10.96.0.1/32", "192.0.2.0/24")


def test_an_unreadable_exclusion_annotation_names_the_pod_the_annotation_and_the_reason() -> None:
    pod = app_pod()
    pod["metadata"]["annotations"] = {"smi-mesh.io/exclude-inbound-ports": "22,ssh"}
    with pytest.raises(InvalidAnnotation) as error:
        inject(pod, settings=SETTINGS)
    assert str(error.value) == (
        "Pod shop/web-*: annotation smi-mesh.io/exclude-inbound-ports: 'ssh' is not a port number (1..65535)"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"containers": []}, "spec.containers: a pod needs at least one container"),
        ({"containers": "web"}, "spec.containers: expected a list, got str"),
        ({"containers": [{"name": "web"}], "initContainers": {"x": 1}}, "spec.initContainers: expected a list"),
    ],
)
def test_a_body_that_is_not_a_patchable_pod_is_reported(spec: dict[str, Any], message: str) -> None:
    pod = {"metadata": {"name": "p"}, "spec": spec}
    with pytest.raises(MalformedPod, match=message):
        inject(pod, settings=SETTINGS)


def test_a_pod_without_metadata_annotations_at_all_is_patched_whole() -> None:
    pod = app_pod()
    del pod["metadata"]
    result = injected(pod)
    assert result["metadata"]["annotations"]["smi-mesh.io/inbound-port"] == "15003"


def test_inject_does_not_modify_its_input() -> None:
    pod = app_pod()
    before = copy.deepcopy(pod)
    inject(pod, settings=SETTINGS)
    assert pod == before


def test_trust_bundle_is_handed_to_the_proxy_when_configured() -> None:
    proxy = container(injected(app_pod(), InjectionSettings(trust_bundle="-----BEGIN CERTIFICATE-----\n")), "smi-proxy")
    assert {"name": "SMI_TRUST_BUNDLE", "value": "-----BEGIN CERTIFICATE-----\n"} in proxy["env"]


def test_json_pointer_escaping() -> None:
    assert pointer("metadata", "annotations", "smi-mesh.io/inbound-port") == (
        "/metadata/annotations/smi-mesh.io~1inbound-port"
    )
    assert pointer("a~b", 0) == "/a~0b/0"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"containers": [None]}, r"spec.containers\[0\]: expected an object, got NoneType"),
        ({"containers": [{"name": "web"}], "volumes": False}, "spec.volumes: expected a list, got bool"),
    ],
)
def test_found_by_hypothesis_items_and_volumes_of_the_wrong_type(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(MalformedPod, match=message):
        inject({"spec": spec}, settings=SETTINGS)
