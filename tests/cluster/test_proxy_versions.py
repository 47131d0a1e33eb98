"""``smi check --proxy`` compares each sidecar's config version with the control plane's.

Real parts: the config server (``ConfigService``) streaming to a real sidecar (``Proxy``,
its admin ``/ready`` saying which config version it runs), and ``smi check``'s client
(the kubernetes library) against kmock.  kmock plays the API server, including its pod
proxy (``/pods/NAME:PORT/proxy/...``), which forwards to the sidecar's admin listener and
the controller replica's config port, as the API server does.

* In step: the line passes and names the version.
* The sidecar loses its stream while it stays ready (the config server went away and came
  back, the sidecar has not reconnected yet): the line fails, saying no replica streams
  to it.
* The control plane has moved on while the sidecar still runs an older config (it rejected
  the new one: a config it cannot read, as from a newer control plane): fails, naming both
  versions.
* Without a pod proxy (the versions cannot be read), the readiness verdict stands and says so.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import kmock
import pytest

from proxy.running import Proxy
from proxy.settings import ProxySettings
from smi.cluster.checking import Check, CheckContext, run_checks
from smi.cluster.kube import KubeClient
from smi.distribution import ConfigService
from smi.distribution.identity import ProxyId
from smi.model import Service
from smi.proxyconfig import ProxyConfig
from smi.state import Snapshot, Store
from tests.distribution.helpers import names_compiler, pod, service
from tests.waiting import wait_until

CONTROLLER = "smi-controller-7f9c-abcde"


def meshed_pod() -> dict[str, Any]:
    return {"metadata": {"namespace": "shop", "name": "web-1", "annotations": {"smi-mesh.io/inbound-port": "15003"}},
            "spec": {"containers": [{"name": "web"}, {"name": "smi-proxy", "ports": [
                {"name": "smi-admin", "containerPort": 15000}]}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "smi-proxy", "ready": True}]}}  # fmt: skip


def skewed_compiler(snapshot: Snapshot, *, namespace: str, pod: str) -> ProxyConfig | None:
    """``names_compiler``, but once a Service ``future`` exists, a config this sidecar cannot decode."""
    config = names_compiler(snapshot, namespace=namespace, pod=pod)
    if config is None or not any(s.meta.name == "future" for s in snapshot.all(Service)):
        return config
    return dataclasses.replace(config, node=dataclasses.replace(config.node, address=15003))  # type: ignore[arg-type]


class Stand:
    def __init__(self, kmock: kmock.KubernetesEmulator, tmp: Path) -> None:
        self.kmock = kmock
        self.store = Store()
        self.store.apply(pod("web-1", "shop"))
        self.service: ConfigService | None = None
        self.proxy: Proxy | None = None
        self.kubeconfig = tmp / "kubeconfig"
        self.kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: k\n"
            f"clusters: [{{name: k, cluster: {{server: '{str(kmock.url).rstrip('/')}'}}}}]\n"
            "users: [{name: u, user: {token: t}}]\ncontexts: [{name: k, context: {cluster: k, user: u}}]\n"
        )

    def serve_pod_proxy(self) -> None:
        async def ready(request: kmock.Request) -> bytes:
            assert self.proxy is not None
            host, port = self.proxy.addresses["admin"]
            async with aiohttp.ClientSession() as s, s.get(f"http://{host}:{port}/ready") as r:
                return await r.read()

        async def versions(request: kmock.Request) -> dict[str, Any]:
            assert self.service is not None
            url = f"{self.service.url}/v1/config/versions"
            async with aiohttp.ClientSession() as s, s.get(url, params=dict(request.params)) as r:
                body: dict[str, Any] = await r.json()
                return body

        self.kmock["get /api/v1/namespaces/shop/pods/web-1:15000/proxy/ready"] << ready
        path = f"/api/v1/namespaces/smi-system/pods/https:{CONTROLLER}:15010/proxy/v1/config/versions"
        self.kmock[f"get {path}"] << versions

    async def check(self) -> Check:
        def run() -> list[Check]:
            client = KubeClient.connect(kubeconfig=str(self.kubeconfig))
            try:
                return run_checks(CheckContext(client=client, namespace="smi-system"), mode="proxy", namespace="shop")
            finally:
                client.close()

        checks = await asyncio.to_thread(run)
        (line,) = [c for c in checks if c.group == "proxies"]
        return line


@pytest.fixture
async def stand(kmock: kmock.KubernetesEmulator, tmp_path: Path) -> AsyncIterator[Stand]:
    kmock["get /version"] << {"major": "1", "minor": "31", "gitVersion": "v1.31.0"}
    kmock["get /api/v1/namespaces/shop/pods"] << {"kind": "PodList", "items": [meshed_pod()]}
    controller = {"metadata": {"namespace": "smi-system", "name": CONTROLLER,
                               "labels": {"app.kubernetes.io/name": "smi-controller"}},
                  "status": {"phase": "Running", "podIP": "127.0.0.1"}}  # fmt: skip
    kmock["get /api/v1/namespaces/smi-system/pods"] << {"kind": "PodList", "items": [controller]}
    stand = Stand(kmock, tmp_path)
    async with ConfigService(store=stand.store, compiler=skewed_compiler, synced=True) as service:
        stand.service = service
        proxy = Proxy(ProxySettings(namespace="shop", pod="web-1", control_plane=service.url, outbound=None,
                                    inbound=None, admin=("127.0.0.1", 0), backoff_max=0.2))  # fmt: skip
        await proxy.start()
        stand.proxy = proxy
        try:
            await wait_until(lambda: proxy.holder.current is not None, what="the sidecar's first config")
            yield stand
        finally:
            await proxy.stop()


async def test_without_a_pod_proxy_the_readiness_verdict_stands_and_says_what_was_not_compared(stand: Stand) -> None:
    line = await stand.check()
    assert line.ok and "config version not compared" in line.detail, line


async def test_a_sidecar_in_step_passes_with_its_version(stand: Stand) -> None:
    stand.serve_pod_proxy()
    line = await stand.check()
    assert (line.name, line.ok) == ("shop/web-1 sidecar has its config", True), line
    assert line.detail == "config version 1, the control plane's", line


async def test_a_sidecar_behind_the_control_plane_fails_naming_both_versions(stand: Stand) -> None:
    stand.serve_pod_proxy()
    assert stand.service is not None and stand.proxy is not None
    publisher = stand.service.publisher
    stand.store.apply(service("future", "shop"))  # version 2 for web-1, which this sidecar rejects
    await wait_until(lambda: publisher.connected_versions() == [(ProxyId("shop", "web-1"), 2)], what="version 2 sent")
    proxy = stand.proxy
    await wait_until(lambda: proxy.metrics.config_rejected >= 1, what="the sidecar to reject version 2")
    line = await stand.check()
    assert not line.ok and line.detail.startswith("config version 1, the control plane's is 2"), line
    assert "logs web-1 -c smi-proxy" in line.hint


async def test_a_ready_sidecar_no_replica_streams_to_fails(stand: Stand) -> None:
    stand.serve_pod_proxy()
    assert stand.service is not None and stand.proxy is not None
    publisher = stand.service.publisher
    for task in stand.proxy._tasks:  # the stream breaks; the sidecar keeps its config and stays ready
        if task.get_name() == "config-stream":
            task.cancel()
    await wait_until(lambda: publisher.connected_versions() == [], what="the stream to end")
    line = await stand.check()
    assert not line.ok and line.detail == "config version 1, but no control plane replica streams config to it", line
