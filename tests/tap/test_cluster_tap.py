"""Tap served by ``smi metrics-api`` in a cluster (stand-in: kmock, the mesh CA, real processes, real mTLS).

A user the SubjectAccessReview allows (``watch deployments/tap`` in group tap.smi-mesh.io)
taps a Deployment: the metrics API finds its pod from the API server, connects to the pod's
sidecar over mutual TLS with its own workload certificate, and a real request through that
sidecar arrives as an event.  A user without the grant gets a 403 Status.  The sidecar's tap
listener answers nobody else: another mesh identity gets 403, a client without a mesh
certificate fails the handshake.  An event whose other end is in a namespace the user may
not read is not sent to that user.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import kmock
import pytest

from proxy.identity.contexts import client_context
from smi.proxyconfig import OutboundConfig, OutboundPort, OutboundService, ProxyConfig, ProxyNode
from tests.metrics.test_security import pki
from tests.proxy.harness import Backend, backends, cluster, ep
from tests.proxy.test_mtls_e2e import TD, ControlPlane, control_plane, issue
from tests.tap.cluster_standin import (
    Aggregator,
    MetricsApi,
    Sidecar,
    TapStream,
    deployment_pod,
    free_port,
    metrics_api,
    open_tap,
    pod_ip,
    serve_api,
    sidecar,
)
from tests.waiting import wait_until

__all__ = ["backends", "pki"]  # fixtures, used by name

CLIENT_ID = f"spiffe://{TD}/ns/default/sa/client"


def _service(namespace: str, name: str) -> OutboundService:
    hosts = (name, f"{name}.{namespace}", f"{name}.{namespace}.svc.cluster.local")
    return OutboundService(namespace, name, hosts, (OutboundPort(80, "http", f"{namespace}/{name}:80"),))


def client_config(address: str, web: Backend, db: Backend) -> ProxyConfig:
    """The ``client`` Deployment's sidecar: it calls ``web`` (namespace default) and ``db`` (namespace other)."""
    return ProxyConfig(
        node=ProxyNode("default", "client-7d9f-x1", "client", CLIENT_ID, address=address, workload="client"),
        outbound=OutboundConfig(
            (_service("default", "web"), _service("other", "db")),
            (cluster("default/web:80", ep(web, workload="web")), cluster("other/db:80", ep(db, workload="db"))),
        ),
    )


class Stand:
    def __init__(self, api: MetricsApi, side: Sidecar, plane: ControlPlane) -> None:
        self.api = api
        self.side = side
        self.plane = plane

    async def get(self, host: str, path: str) -> int:
        async with aiohttp.ClientSession() as s, s.get(f"http://{host}{path}", proxy=self.side.outbound) as r:
            await r.read()
            return r.status


@pytest.fixture
async def stand(
    kmock: kmock.KubernetesEmulator, pki: dict[str, Path], tmp_path: Path,
    backends: Callable[..., Awaitable[Backend]],
) -> AsyncIterator[Stand]:  # fmt: skip
    web, db = await backends("web"), await backends("db")
    address, tap_port = pod_ip(), free_port()
    pod, replicaset = deployment_pod("default", "client", address, "client")
    lists = {"/api/v1/pods": [pod], "/apis/apps/v1/replicasets": [replicaset]}
    serve_api(kmock, pki["front-ca.crt"].read_text(), lists)
    async with (
        control_plane(tmp_path / "cp", lifetime=datetime.timedelta(hours=1)) as plane,
        sidecar(plane, client_config(address, web, db), tmp_path, address=address, tap_port=tap_port,
                sa="client") as side,
        metrics_api(plane, kmock, pki, tmp_path, tap_port=tap_port) as api,
    ):  # fmt: skip
        yield Stand(api, side, plane)


async def test_an_allowed_user_taps_a_deployment_through_the_metrics_api_over_mtls(stand: Stand) -> None:
    tap = await open_tap(stand.api, "/namespaces/default/deployments/client/tap?path_prefix=/books", "jane")
    try:
        assert tap.status == 200, await tap.body()
        assert await stand.get("web", "/other") == 200  # filtered out at the sidecar
        assert await stand.get("web", "/books/7") == 200
        event = await tap.event()
        assert (event["direction"], event["method"], event["path"], event["status"]) == ("outbound", "GET",
                                                                                         "/books/7", 200)  # fmt: skip
        assert (event["source_namespace"], event["source_workload"], event["source_identity"]) == (
            "default", "client", CLIENT_ID)  # fmt: skip
        assert (event["destination_namespace"], event["destination_workload"]) == ("default", "web")
    finally:
        await tap.close()


async def test_a_user_without_watch_on_tap_gets_a_403_status(stand: Stand) -> None:
    tap = await TapStream.open(stand.api, "/namespaces/default/deployments/client/tap", "bob")
    try:
        body = await tap.body()
        assert (tap.status, body["kind"], body["reason"]) == (403, "Status", "Forbidden")
        wanted = 'user "bob" cannot watch deployments/tap in namespace default in group tap.smi-mesh.io'
        assert wanted in body["message"]
    finally:
        await tap.close()
    tap = await open_tap(stand.api, "/namespaces/default/deployments/client/tap", "bob", ("admins",))
    try:
        assert tap.status == 200  # the group grants it
    finally:
        await tap.close()


async def test_tap_leaves_out_events_whose_other_end_the_user_may_not_read(stand: Stand) -> None:
    jane = await open_tap(stand.api, "/namespaces/default/deployments/client/tap", "jane")
    ops = await open_tap(stand.api, "/namespaces/default/deployments/client/tap", "ops", ("admins",))
    try:
        assert (jane.status, ops.status) == (200, 200)
        assert await stand.get("db.other", "/secret") == 200  # namespace other: jane may not read it
        assert await stand.get("web", "/public") == 200
        seen_by_ops = [(await ops.event())["path"] for _ in range(2)]
        assert sorted(seen_by_ops) == ["/public", "/secret"]
        assert (await jane.event())["path"] == "/public"  # the first event jane gets is the second request
    finally:
        await jane.close()
        await ops.close()


async def _tap_directly(side: Sidecar, context: ssl.SSLContext) -> bytes:
    reader, writer = await asyncio.open_connection(side.address, side.tap_port, ssl=context,
                                                   server_hostname="tap.mesh.invalid")  # fmt: skip
    try:
        writer.write(b"GET /tap HTTP/1.1\r\nHost: tap\r\n\r\n")
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def test_the_sidecar_serves_tap_to_no_other_identity_and_not_without_a_certificate(stand: Stand) -> None:
    intruder = issue(stand.plane.ca, "intruder")  # a valid mesh certificate of another identity
    answer = await _tap_directly(stand.side, client_context(intruder))
    assert answer.startswith(b"HTTP/1.1 403") and b"spiffe://cluster.local/ns/default/sa/intruder" in answer
    anonymous = ssl.create_default_context(cadata=stand.plane.ca.trust_bundle_pem)
    anonymous.check_hostname = False
    try:
        answer = await _tap_directly(stand.side, anonymous)
    except (ssl.SSLError, ConnectionError):
        answer = b""  # the handshake is refused (TLS 1.3: after the client's Finished, as an alert or EOF)
    assert answer == b"", answer


async def test_the_tap_groups_discovery_is_served(stand: Stand) -> None:
    url = stand.api.url + "/apis/tap.smi-mesh.io/v1alpha1"
    async with aiohttp.ClientSession() as s, s.get(url, ssl=stand.api.client_context()) as r:
        body: Any = await r.json()
    assert body["kind"] == "APIResourceList"
    assert {(r["name"], tuple(r["verbs"])) for r in body["resources"]} >= {("deployments/tap", ("watch",))}


async def test_smi_tap_streams_a_cluster_workload_through_the_api_server(stand: Stand, tmp_path: Path) -> None:
    async with Aggregator(stand.api, {"jane-token": "jane", "bob-token": "bob"}) as api_server:
        denied = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "smi.cli.main", "tap", "deploy/client", "-n", "default",
            "--kubeconfig", str(api_server.kubeconfig(tmp_path / "bob", "bob-token")),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(denied.communicate(), 60)
        assert denied.returncode == 1 and 'user "bob" cannot watch deployments/tap' in err.decode(), (out, err)
        tap = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "smi.cli.main", "tap", "deploy/client", "-n", "default", "--path-prefix", "/books",
            "--max-events", "1", "--kubeconfig", str(api_server.kubeconfig(tmp_path / "jane", "jane-token")),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert tap.stdout is not None
        first = asyncio.create_task(tap.stdout.readline())
        try:
            sent = 0

            async def printed() -> bool:  # requests until the tap (subscribed at some point) prints one
                nonlocal sent
                sent += 1
                assert await stand.get("web", f"/books/{sent}") == 200
                return first.done()

            await wait_until(printed, within=60, every=0.2, what="smi tap to print an event")
            out = await first
            _, err = await asyncio.wait_for(tap.communicate(), 30)
        finally:
            first.cancel()
            if tap.returncode is None:
                tap.kill()
                await tap.wait()
    line = out.decode().strip()
    assert tap.returncode == 0 and line.startswith("outbound default/client -> default/web GET web/books/"), (out, err)
    assert " 200 " in line and " plain" in line  # to an endpoint without a mesh identity
