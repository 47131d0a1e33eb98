"""Cluster mode: owners resolved to the top workload, the listed topology, and the install manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kmock
import yaml

from smi.cli.main import build_parser
from traffic_metrics.cluster import ClusterTopology, build_topology
from traffic_metrics.discovery import api_resource_list
from traffic_metrics.kube import Kube
from traffic_metrics.model import GROUP, VERSION

REPO = Path(__file__).resolve().parents[2]


def pod(name: str, owner: tuple[str, str] | None, ip: str = "10.0.0.1") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "shop", "annotations": {"smi-mesh.io/inbound-port": "15003"}}
    if owner:
        meta["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
    return {"metadata": meta, "spec": {"serviceAccountName": "web"}, "status": {"podIP": ip, "phase": "Running"}}


def rs(name: str, owner: tuple[str, str] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "shop"}
    if owner:
        meta["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
    return {"metadata": meta}


LISTS = {
    "pods": [
        pod("web-6d8-a", ("ReplicaSet", "web-6d8")),
        pod("canary-7f-a", ("ReplicaSet", "canary-7f")),
        pod("lone-rs-a", ("ReplicaSet", "lone-rs")),
        pod("db-0", ("StatefulSet", "db")),
        pod("agent-x", ("DaemonSet", "agent")),
        pod("migrate-q", ("Job", "migrate")),
        pod("bare", None),
    ],
    "replicasets": [rs("web-6d8", ("Deployment", "web")), rs("canary-7f", ("Rollout", "canary")), rs("lone-rs", None)],
    "trafficsplits": [
        {
            "metadata": {"name": "s", "namespace": "shop"},
            "spec": {"service": "web", "backends": [{"service": "web-v1", "weight": 90}]},
        }
    ],
}


def test_every_workload_kind_is_found_from_owner_references() -> None:
    topo = build_topology(LISTS)
    owners = {name: (p.workload_kind, p.workload) for (_, name), p in topo.pods.items()}
    assert owners == {
        "web-6d8-a": ("Deployment", "web"),
        "canary-7f-a": ("Rollout", "canary"),
        "lone-rs-a": ("ReplicaSet", "lone-rs"),
        "db-0": ("StatefulSet", "db"),
        "agent-x": ("DaemonSet", "agent"),
        "migrate-q": ("Job", "migrate"),
        "bare": ("", ""),
    }
    assert topo.pods[("shop", "db-0")].metrics_url == "http://10.0.0.1:15000/metrics"
    assert topo.splits[("shop", "s")].backends == (("web-v1", 90.0),)


async def test_the_topology_is_listed_from_the_api_server(kmock: kmock.KubernetesEmulator) -> None:
    for key, path in [("pods", "/api/v1/pods"), ("replicasets", "/apis/apps/v1/replicasets"),
                      ("trafficsplits", "/apis/split.smi-spec.io/v1alpha4/trafficsplits")]:  # fmt: skip
        kmock[f"get {path}"] << {"kind": "List", "items": LISTS[key]}
    cluster = ClusterTopology(Kube(url=str(kmock.url).rstrip("/")))
    await cluster.refresh()  # the other lists fail (404): logged, the rest still used
    assert cluster.topology().pods[("shop", "web-6d8-a")].workload == "web"
    assert len(cluster.targets()) == 7


def _docs() -> list[dict[str, Any]]:
    text = (REPO / "manifests/install/metrics-api.yaml").read_text()
    return [d for d in yaml.safe_load_all(text) if d]


def _one(kind: str, name: str | None = None) -> dict[str, Any]:
    (found,) = [d for d in _docs() if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    return found


def test_the_install_manifest_wires_the_aggregated_api() -> None:
    deployment = _one("Deployment")
    spec = deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    args = build_parser().parse_args(container["args"])
    assert args.command == "metrics-api" and args.source == "direct"
    port = next(p for p in container["ports"] if p["name"] == "https")
    assert args.listen.endswith(f":{port['containerPort']}")
    assert container["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    service = _one("Service")
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    api = _one("APIService", f"{VERSION}.{GROUP}")
    assert (api["spec"]["group"], api["spec"]["version"]) == (GROUP, VERSION)
    assert api["spec"]["service"] == {"name": service["metadata"]["name"], "namespace": "smi-system", "port": 443}
    assert "caBundle" in api["spec"]
    roles = {(d["roleRef"]["kind"], d["roleRef"]["name"]) for d in _docs() if d["kind"].endswith("Binding")}
    assert {("ClusterRole", "system:auth-delegator"), ("Role", "extension-apiserver-authentication-reader")} <= roles
    reader = _one("RoleBinding")
    assert reader["metadata"]["namespace"] == "kube-system"
    for binding in (d for d in _docs() if d["kind"].endswith("Binding")):
        assert {"kind": "ServiceAccount", "name": spec["serviceAccountName"], "namespace": "smi-system"} in (
            binding["subjects"]
        )
    rules = _one("ClusterRole", "smi-metrics-api")["rules"]
    listed = {(g, r) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]}
    assert {("", "pods"), ("apps", "replicasets"), ("batch", "jobs"), ("split.smi-spec.io", "trafficsplits")} <= listed
    served = {r["name"] for r in api_resource_list()["resources"]}
    assert "deployments/edges" in served


def test_metrics_api_with_an_unreachable_api_server_says_so_in_one_line(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    done = subprocess.run(
        [sys.executable, "-m", "smi.cli.main", "metrics-api", "--api-url", f"http://127.0.0.1:{dead}",
         "--tls-cert", str(tmp_path / "tls.crt"), "--tls-key", str(tmp_path / "tls.key")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "unreachable" in lines[0] and "extension-apiserver-authentication" in lines[0], lines
    missing = subprocess.run([sys.executable, "-m", "smi.cli.main", "metrics-api"], capture_output=True, text=True,
                             timeout=60)  # fmt: skip
    assert missing.returncode == 2 and "--tls-cert and --tls-key are required" in missing.stderr
