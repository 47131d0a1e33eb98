"""A cluster stand-in for tap: kmock as API server, the mesh CA, real ``smi proxy`` and ``smi metrics-api``.

* kmock serves kube-system/extension-apiserver-authentication (the front proxy's CA), the
  pods and ReplicaSets the metrics API lists, and answers SubjectAccessReviews from a table
  of who may do what (``GRANTS``; group ``admins`` may do everything);
* the control plane's ``ConfigService`` serves the real CA under ``/ca`` over TLS; every
  process proves who it is with a bootstrap token, as ``smi proxy --token-file`` does;
* sidecars run as ``python -m smi.cli.main proxy --config-file ... --mtls strict --tap
  POD_IP:PORT --tap-identity <the metrics API's>`` on a random 127.x address (their pod IP);
* ``smi metrics-api`` runs with ``--api-url`` (kmock), ``--ca-dir`` (a webhook CA: it issues its
  own serving certificate) and ``--ca-url`` (its own workload certificate).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import kmock
from aiohttp import web

from smi.cluster.certificates import new_webhook_ca
from smi.identity import spiffe_id
from smi.proxyconfig import ProxyConfig, encode
from tests.proxy.test_mtls_e2e import TD, ControlPlane
from tests.waiting import wait_until

SARS = kmock.resource("authorization.k8s.io", "v1", "subjectaccessreviews")
METRICS_API_ID = spiffe_id(TD, "smi-system", "smi-metrics-api")
TAP_BASE = "/apis/tap.smi-mesh.io/v1alpha1"
# (user, group, resource, subresource, namespace, verb): what the RBAC of the stand-in allows
GRANTS = {
    ("jane", "tap.smi-mesh.io", "deployments", "tap", "default", "watch"),
    ("jane", "metrics.smi-spec.io", "namespaces", "", "default", "get"),
    ("jane", "metrics.smi-spec.io", "deployments", "", "default", "list"),
    ("bob", "metrics.smi-spec.io", "deployments", "", "default", "list"),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pod_ip() -> str:
    return f"127.{random.randint(64, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"


def serve_api(kmock: kmock.KubernetesEmulator, front_ca_pem: str, lists: dict[str, list[dict[str, Any]]]) -> None:
    configmap = {"kind": "ConfigMap", "data": {
        "requestheader-client-ca-file": front_ca_pem,
        "requestheader-allowed-names": '["front-proxy-client"]',
        "requestheader-username-headers": '["X-Remote-User"]',
        "requestheader-group-headers": '["X-Remote-Group"]',
        "requestheader-extra-headers-prefix": '["X-Remote-Extra-"]',
    }}  # fmt: skip
    kmock["get /api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"] << configmap
    listed = ("/api/v1/pods", "/apis/apps/v1/replicasets", "/api/v1/services", "/api/v1/namespaces",
              "/apis/split.smi-spec.io/v1alpha4/trafficsplits", "/apis/apps/v1/deployments",
              "/apis/apps/v1/statefulsets", "/apis/apps/v1/daemonsets", "/apis/batch/v1/jobs")  # fmt: skip
    for path, items in {**{key: [] for key in listed}, **lists}.items():
        kmock[f"get {path}"] << {"kind": "List", "items": items}

    def review(request: kmock.Request) -> dict[str, Any]:
        for key in list(kmock.objects):
            if key[0] == SARS:
                del kmock.objects[key]
        spec = request.data["spec"]
        attrs = spec.get("resourceAttributes")
        if attrs is None:
            allowed = True  # discovery (system:discovery)
        else:
            wanted = (spec["user"], attrs["group"], attrs["resource"], attrs["subresource"], attrs["namespace"],
                      attrs["verb"])  # fmt: skip
            allowed = wanted in GRANTS or "admins" in spec.get("groups", [])
        status = {"allowed": allowed, **({} if allowed else {"reason": "no RBAC rule allows it"})}
        return {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec, "status": status}

    kmock.resources["authorization.k8s.io/v1/subjectaccessreviews"] = {"kind": "SubjectAccessReview",
                                                                       "namespaced": False}  # fmt: skip
    kmock["post", SARS] << review


def deployment_pod(namespace: str, deployment: str, address: str, service_account: str) -> list[dict[str, Any]]:
    """(pod, its ReplicaSet): a running meshed pod of ``deployment``."""
    rs = f"{deployment}-7d9f"
    owner = {"apiVersion": "apps/v1", "controller": True}
    pod = {"metadata": {"namespace": namespace, "name": f"{rs}-x1", "labels": {"app": deployment},
                        "annotations": {"smi-mesh.io/inbound-port": "15003"},
                        "ownerReferences": [{**owner, "kind": "ReplicaSet", "name": rs}]},
           "spec": {"serviceAccountName": service_account, "containers": [{"name": "smi-proxy"}]},
           "status": {"phase": "Running", "podIP": address}}  # fmt: skip
    replicaset = {"metadata": {"namespace": namespace, "name": rs,
                               "ownerReferences": [{**owner, "kind": "Deployment", "name": deployment}]}}  # fmt: skip
    return [pod, replicaset]


@dataclass
class Process:
    proc: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        assert self.proc.poll() is None, f"exited {self.proc.returncode}: {self.log.read_text()[-3000:]}"
        return True

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def start(args: list[str], log: Path) -> Process:
    out = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "smi.cli.main", *args], stdout=out, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    out.close()
    return Process(proc, log)


@dataclass
class Sidecar:
    process: Process
    address: str  # its pod IP
    outbound: str  # http://127.0.0.1:PORT, an HTTP proxy for the app's requests
    tap_port: int


@asynccontextmanager
async def sidecar(
    plane: ControlPlane, config: ProxyConfig, tmp: Path, *, address: str, tap_port: int, sa: str
) -> AsyncIterator[Sidecar]:
    path = tmp / f"{config.node.pod}.json"
    path.write_text(json.dumps(encode(config)))
    bundle = tmp / "bundle.pem"
    bundle.write_text(plane.ca.trust_bundle_pem)
    outbound, admin = free_port(), free_port()
    process = start([
        "proxy", "--config-file", str(path), "--namespace", config.node.namespace, "--pod", config.node.pod,
        "--outbound", f"127.0.0.1:{outbound}", "--inbound", f"{address}:0", "--admin", f"127.0.0.1:{admin}",
        "--mtls", "strict", "--ca-url", plane.service.url + "/ca", "--token-file",
        str(plane.token_file(config.node.pod, sa)), "--trust-bundle", str(bundle), "--service-account", sa,
        "--tap", f"{address}:{tap_port}", "--tap-identity", METRICS_API_ID,
    ], tmp / f"{config.node.pod}.log")  # fmt: skip
    try:
        async with aiohttp.ClientSession() as s:

            async def ready() -> bool:
                process.alive()
                try:
                    async with s.get(f"http://127.0.0.1:{admin}/ready") as r:
                        return r.status == 200
                except aiohttp.ClientError:
                    return False

            await wait_until(ready, within=30, what="smi proxy ready (workload certificate and config)")
        yield Sidecar(process, address, f"http://127.0.0.1:{outbound}", tap_port)
    finally:
        process.stop()


@dataclass
class MetricsApi:
    process: Process
    url: str
    webhook_ca: Path
    front: dict[str, Path] = field(default_factory=dict)

    def client_context(self, client: str | None = "aggregator") -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.webhook_ca / "ca.crt"))
        context.check_hostname = False  # its certificate names smi-metrics-api.smi-system.svc; the chain is checked
        if client is not None:
            context.load_cert_chain(str(self.front[f"{client}.crt"]), str(self.front[f"{client}.key"]))
        return context


@asynccontextmanager
async def metrics_api(
    plane: ControlPlane | None, kmock: kmock.KubernetesEmulator, pki: dict[str, Path], tmp: Path, *,
    tap_port: int = 15002, lifetime: str = "1h",
) -> AsyncIterator[MetricsApi]:  # fmt: skip
    """``smi metrics-api`` (with a mesh identity from ``plane``'s CA when given)."""
    webhook_ca = tmp / "webhook-ca"
    webhook_ca.mkdir()
    for name, data in new_webhook_ca().files().items():
        (webhook_ca / name).write_bytes(data)
    port = free_port()
    args = [
        "metrics-api", "--listen", f"127.0.0.1:{port}", "--api-url", str(kmock.url).rstrip("/"),
        "--ca-dir", str(webhook_ca), "--cert-lifetime", lifetime, "--namespace", "smi-system",
        "--scrape-interval", "60", "--tap-port", str(tap_port),
    ]  # fmt: skip
    if plane is not None:
        bundle = tmp / "bundle.pem"
        bundle.write_text(plane.ca.trust_bundle_pem)
        token = tmp / "metrics-api.token"
        token.write_text(plane.tokens.mint(namespace="smi-system", pod="smi-metrics-api-0",
                                           service_account="smi-metrics-api"))  # fmt: skip
        args += ["--ca-url", plane.service.url + "/ca", "--token-file", str(token), "--trust-bundle", str(bundle),
                 "--service-account", "smi-metrics-api"]  # fmt: skip
    process = start(args, tmp / "metrics-api.log")
    api = MetricsApi(process, f"https://127.0.0.1:{port}", webhook_ca, pki)
    try:
        async with aiohttp.ClientSession() as s:

            async def ready() -> bool:
                process.alive()
                try:
                    async with s.get(api.url + "/readyz", ssl=api.client_context(None)) as r:
                        return r.status == 200
                except aiohttp.ClientError:
                    return False

            await wait_until(ready, within=30, what="smi metrics-api serving")
        yield api
    finally:
        process.stop()


class TapStream:
    """One tap request through the metrics API, as the aggregator would make it for ``user``."""

    def __init__(self, session: aiohttp.ClientSession, response: aiohttp.ClientResponse) -> None:
        self.session = session
        self.response = response

    @classmethod
    async def open(cls, api: MetricsApi, path: str, user: str, groups: tuple[str, ...] = ()) -> TapStream:
        session = aiohttp.ClientSession()
        headers = [("X-Remote-User", user), *(("X-Remote-Group", g) for g in groups)]
        response = await session.get(api.url + TAP_BASE + path, headers=headers, ssl=api.client_context())
        return cls(session, response)

    @property
    def status(self) -> int:
        return self.response.status

    async def event(self, within: float = 10.0) -> dict[str, Any]:
        line = await asyncio.wait_for(self.response.content.readline(), within)
        assert line, "the tap stream ended"
        event: dict[str, Any] = json.loads(line)
        return event

    async def body(self) -> dict[str, Any]:
        body: dict[str, Any] = await self.response.json(content_type=None)
        return body

    async def close(self) -> None:
        self.response.close()
        await self.session.close()


async def open_tap(api: MetricsApi, path: str, user: str, groups: tuple[str, ...] = ()) -> TapStream:
    """Open a tap once the metrics API has its workload certificate (503 until then) and has listed the pods."""
    opened: list[TapStream] = []

    async def answered() -> bool:
        api.process.alive()
        stream = await TapStream.open(api, path, user, groups)
        waiting = ("no workload certificate", "no running pod")  # its certificate, its first listing of pods
        text = json.dumps(await stream.body()) if stream.status in (503, 404) else ""
        if any(w in text for w in waiting):
            await stream.close()
            return False
        opened.append(stream)
        return True

    await wait_until(answered, within=30, every=0.2, what="the metrics API's tap answering")
    return opened[0]


class Aggregator:
    """The kube-apiserver's part for tap: a bearer token names the user, the request goes on to the
    metrics API with the front proxy's client certificate and ``X-Remote-User``, the answer streams back."""

    def __init__(self, api: MetricsApi, users: dict[str, str]) -> None:
        self.api = api
        self.users = users
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def forward(self, request: web.Request) -> web.StreamResponse:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        user = self.users.get(token)
        if user is None:
            return web.json_response({"kind": "Status", "code": 401, "message": "Unauthorized"}, status=401)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as s, s.get(
            self.api.url + request.path_qs, headers={"X-Remote-User": user}, ssl=self.api.client_context()
        ) as upstream:  # fmt: skip
            answer = web.StreamResponse(status=upstream.status, headers={
                "Content-Type": upstream.headers.get("Content-Type", "application/json")})  # fmt: skip
            await answer.prepare(request)
            async for chunk in upstream.content.iter_any():
                await answer.write(chunk)
            return answer

    async def __aenter__(self) -> Aggregator:
        app = web.Application()
        app.router.add_get("/apis/tap.smi-mesh.io/{tail:.*}", self.forward)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def kubeconfig(self, path: Path, token: str) -> Path:
        path.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
            f"clusters: [{{name: c, cluster: {{server: '{self.url}'}}}}]\n"
            f"users: [{{name: u, user: {{token: {token}}}}}]\n"
            "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
        )
        return path
