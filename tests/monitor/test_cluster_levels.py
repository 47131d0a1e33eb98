"""Monitoring levels in a cluster, against kmock's KubernetesEmulator as the API server.

* ``smi monitor`` with a kubeconfig patches the annotation as ``kubectl annotate`` would, and
  the real operator + compile turn it into the proxy's config.
* ``smi metrics-api``'s level endpoint (what the page calls) asks a SubjectAccessReview for
  ``patch`` on the target for the requesting user (named by the aggregator over real TLS),
  patches only when allowed, and lists only namespaces the user may list Deployments in.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import kmock
import pytest
from aiohttp import web

from tests.cluster.controlplane import REPO
from tests.controllers.conftest import Mesh, cluster, mesh
from tests.metrics.test_security import pki
from tests.waiting import wait_until
from traffic_metrics.kube import Kube
from traffic_metrics.levels import LEVELS_BASE, add_level_routes
from traffic_metrics.levels_cluster import ClusterLevels
from traffic_metrics.security import load_request_header_config, server_ssl_context

__all__ = ["cluster", "mesh", "pki"]  # fixtures, used by name

pytestmark = pytest.mark.timeout(120)

ANNOTATION = "smi-mesh.io/monitoring"
SARS = kmock.resource("authorization.k8s.io", "v1", "subjectaccessreviews")
# (user, verb, group, resource, namespace) the emulated RBAC allows
ALLOWED = {
    ("jane", "patch", "apps", "deployments", "shop"),
    ("jane", "list", "apps", "deployments", "shop"),
    ("ops", "patch", "", "namespaces", ""),
    ("ops", "list", "apps", "deployments", "shop"),
    ("ops", "list", "apps", "deployments", "other"),
}


async def create_workload(api: Mesh, ns: str, name: str, *, pod_ip: str = "10.0.0.5") -> None:
    await api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    labels = {"app": name}
    await api.create(f"/apis/apps/v1/namespaces/{ns}/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app"}]}}},
    })  # fmt: skip
    await api.create(f"/api/v1/namespaces/{ns}/pods", {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"{name}-1", "namespace": ns, "labels": labels,
                     "annotations": {"smi-mesh.io/inbound-port": "15003"}},
        "spec": {"containers": [{"name": "app"}]},
        "status": {"podIP": pod_ip, "phase": "Running"},
    })  # fmt: skip


async def run_smi(kubeconfig: Path, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smi.cli.main", *args, "--kubeconfig", str(kubeconfig), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(), err.decode()


def kubeconfig_for(emulator: kmock.KubernetesEmulator, path: Path) -> Path:
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "emulated",
        "clusters": [{"name": "emulated", "cluster": {"server": str(emulator.url).rstrip("/")}}],
        "users": [{"name": "emulated", "user": {"token": "emulated"}}],
        "contexts": [{"name": "emulated", "context": {"cluster": "emulated", "user": "emulated"}}],
    }))  # fmt: skip
    return path


async def test_smi_monitor_patches_the_cluster_and_the_compile_follows(mesh: Mesh, tmp_path: Path) -> None:
    await create_workload(mesh, "shop", "web")
    await mesh.start_operator()
    kubeconfig = kubeconfig_for(mesh.cluster, tmp_path / "kubeconfig")

    def level() -> str | None:
        config = mesh.compiler.compile_proxy(mesh.store.snapshot(), namespace="shop", pod="web-1")
        return config.monitoring if config is not None else None

    await wait_until(lambda: level() == "routes", within=20, what="the pod's config at the default level")
    code, out, err = await run_smi(kubeconfig, "monitor", "deploy/web", "-n", "shop", "--level", "golden")
    assert code == 0, err
    assert "golden" in out
    deployment = await mesh.get("/apis/apps/v1/namespaces/shop/deployments/web")
    assert deployment["metadata"]["annotations"][ANNOTATION] == "golden"
    await wait_until(lambda: level() == "golden", within=20, what="the compiled config to carry golden")

    code, out, err = await run_smi(kubeconfig, "monitor", "ns/shop", "--level", "off")
    assert code == 0, err
    code, out, err = await run_smi(kubeconfig, "monitor", "-n", "shop", "-o", "json")
    assert code == 0, err
    items = {(i["kind"], i["name"]): (i["level"], i["source"]) for i in json.loads(out)}
    assert items == {("Namespace", "shop"): ("off", "Namespace shop"),
                     ("Deployment", "web"): ("golden", "Deployment shop/web")}  # fmt: skip

    code, out, err = await run_smi(kubeconfig, "monitor", "deploy/web", "-n", "shop", "--clear")
    assert code == 0, err
    await wait_until(lambda: level() == "off", within=20, what="the namespace's level once the workload's is cleared")

    code, _, err = await run_smi(kubeconfig, "monitor", "deploy/nobody", "-n", "shop", "--level", "off")
    assert code == 1 and "Deployment shop/nobody: not found" in err, err


@pytest.fixture
async def levels_server(mesh: Mesh, pki: dict[str, Path]) -> AsyncIterator[str]:
    emulator = mesh.cluster
    emulator["get /api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"] << {
        "kind": "ConfigMap",
        "data": {"requestheader-client-ca-file": pki["front-ca.crt"].read_text(),
                 "requestheader-allowed-names": '["front-proxy-client"]'},
    }  # fmt: skip

    def review(request: kmock.Request) -> dict[str, Any]:
        for key in list(emulator.objects):
            if key[0] == SARS:
                del emulator.objects[key]
        spec = request.data["spec"]
        a = spec["resourceAttributes"]
        allowed = (spec["user"], a["verb"], a["group"], a["resource"], a["namespace"]) in ALLOWED
        status = {"allowed": allowed, **({} if allowed else {"reason": "no RBAC rule allows it"})}
        return {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec, "status": status}

    emulator.resources["authorization.k8s.io/v1/subjectaccessreviews"] = {"kind": "SubjectAccessReview",
                                                                          "namespaced": False}  # fmt: skip
    emulator["post", SARS] << review
    await create_workload(mesh, "shop", "web")
    await create_workload(mesh, "other", "db", pod_ip="10.0.0.6")
    kube = Kube(url=str(emulator.url).rstrip("/"))
    config = await load_request_header_config(kube)
    app = web.Application()
    add_level_routes(app, ClusterLevels(kube, config))
    runner = web.AppRunner(app)
    await runner.setup()
    context = server_ssl_context(str(pki["tls.crt"]), str(pki["tls.key"]), config)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"https://localhost:{port}"
    finally:
        await runner.cleanup()


async def as_user(url: str, pki: dict[str, Path], user: str, body: Any = None) -> tuple[int, Any]:
    context = ssl.create_default_context(cafile=str(pki["serving-ca.crt"]))
    context.load_cert_chain(str(pki["aggregator.crt"]), str(pki["aggregator.key"]))
    method = "GET" if body is None else "POST"
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, url, json=body, headers={"X-Remote-User": user}, ssl=context) as r,
    ):
        return r.status, await r.json(content_type=None)


async def test_the_page_switch_patches_only_what_the_user_may_patch(
    mesh: Mesh, levels_server: str, pki: dict[str, Path]
) -> None:
    web_level = f"{levels_server}{LEVELS_BASE}/namespaces/shop/deployments/web/level"
    status, body = await as_user(web_level, pki, "jane", {"level": "off"})
    assert status == 200, body
    assert (body["kind"], body["name"], body["level"], body["annotation"]) == ("Deployment", "web", "off", "off")
    found = await mesh.get("/apis/apps/v1/namespaces/shop/deployments/web")
    assert found["metadata"]["annotations"][ANNOTATION] == "off"

    status, body = await as_user(
        f"{levels_server}{LEVELS_BASE}/namespaces/shop/level", pki, "jane", {"level": "golden"}
    )
    assert status == 403 and body["message"] == (
        'user "jane" cannot patch namespaces "shop": no RBAC rule allows it'
    ), body
    namespace = await mesh.get("/api/v1/namespaces/shop")
    assert ANNOTATION not in (namespace["metadata"].get("annotations") or {})

    status, body = await as_user(f"{levels_server}{LEVELS_BASE}/namespaces/other/deployments/db/level", pki, "jane",
                                 {"level": "off"})  # fmt: skip
    assert status == 403 and 'cannot patch deployments "db" in namespace other' in body["message"]

    status, body = await as_user(f"{levels_server}{LEVELS_BASE}/namespaces/shop/level", pki, "ops", {"level": "golden"})
    assert status == 200 and body["level"] == "golden"

    status, body = await as_user(web_level, pki, "jane", {"level": "loud"})
    assert status == 400 and "got 'loud'" in body["message"]

    status, body = await as_user(f"{levels_server}{LEVELS_BASE}/levels", pki, "jane")
    assert status == 200
    seen = {(i["kind"], i["name"], i["level"]) for i in body["items"]}
    assert seen == {("Namespace", "shop", "golden"), ("Deployment", "web", "off")}  # nothing of "other"
    status, body = await as_user(f"{levels_server}{LEVELS_BASE}/levels", pki, "ops")
    assert {i["name"] for i in body["items"]} >= {"shop", "web", "other", "db"}
