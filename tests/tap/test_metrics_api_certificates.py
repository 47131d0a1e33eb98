"""The metrics API's serving certificate is rotated like the webhook's, and its caBundle kept current.

* ``smi metrics-api --ca-dir DIR --cert-lifetime 4s`` (a real process): under a steady
  stream of aggregated requests (the front proxy's client certificate, a user), it serves
  newer and newer certificates (re-issued at half their life) without a restart and
  without one failed request; each still verifies the front proxy's certificate.
* The leader's caBundle upkeep (``smi.cluster.cabundles.sync_once`` with the
  ``--apiservice`` flags the installed controller gets) patches the three APIServices,
  metrics, tap and monitoring, to the webhook CA the serving certificates are issued from.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from pathlib import Path

import aiohttp
import kmock

from smi.cli.main import build_parser
from smi.cluster import metrics_api as install
from smi.cluster.cabundles import BundleTargets, sync_once
from smi.cluster.certificates import new_webhook_ca
from smi.cluster.options import InstallOptions
from smi.cluster.restclient import RestClient
from smi.cluster.workloads import controller_container
from tests.metrics.test_security import pki
from tests.tap.cluster_standin import MetricsApi, metrics_api, serve_api
from tests.waiting import wait_until

__all__ = ["pki"]  # the fixture, used by name


async def aggregated_get(api: MetricsApi, path: str, client: str | None = "aggregator") -> tuple[bytes, int]:
    """(status line, the serving certificate's serial) of one request on a new connection."""
    port = int(api.url.rsplit(":", 1)[1])
    context = api.client_context(client)
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="metrics")
    try:
        serial = int(writer.get_extra_info("peercert")["serialNumber"], 16)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: metrics\r\nX-Remote-User: jane\r\nConnection: close\r\n\r\n"
                     .encode())  # fmt: skip
        answer = await asyncio.wait_for(reader.read(), 10)
        return answer.split(b"\r\n", 1)[0], serial
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def test_the_serving_certificate_is_reissued_at_half_life_while_requests_keep_succeeding(
    kmock: kmock.KubernetesEmulator, pki: dict[str, Path], tmp_path: Path
) -> None:
    serve_api(kmock, pki["front-ca.crt"].read_text(), {})
    async with metrics_api(None, kmock, pki, tmp_path, lifetime="4s") as api:
        serials: list[int] = []
        failures: list[bytes] = []

        async def one_more() -> bool:
            api.process.alive()
            status, serial = await aggregated_get(api, "/apis/metrics.smi-spec.io/v1alpha1")
            if not status.endswith(b"200 OK"):
                failures.append(status)
            serials.append(serial)
            return len(set(serials)) >= 3 or bool(failures)

        await wait_until(one_more, within=60, every=0.05, what="three serving certificates")
        assert failures == []
        status, _ = await aggregated_get(api, "/apis/metrics.smi-spec.io/v1alpha1", client="wrong-name")
        assert status.startswith(b"HTTP/1.1 401")  # the renewed context still checks who the front proxy is


async def test_the_leader_keeps_the_three_apiservices_ca_bundles_current(
    kmock: kmock.KubernetesEmulator, tmp_path: Path
) -> None:
    options = InstallOptions()
    args = build_parser().parse_args(controller_container(options)["args"])
    assert set(args.apiservice) == {install.APISERVICE, install.TAP_APISERVICE, install.MONITORING_APISERVICE}
    kmock.resources["apiregistration.k8s.io/v1/apiservices"] = kmock.ResourceInfo(
        kind="APIService", namespaced=False, verbs={"get", "list", "create", "patch"}
    )
    url = str(kmock.url).rstrip("/")
    async with aiohttp.ClientSession() as s:
        for doc in install.objects(options, ca_bundle=b"an old CA"):
            if doc["kind"] == "APIService":
                async with s.post(f"{url}/apis/apiregistration.k8s.io/v1/apiservices", json=doc) as r:
                    assert r.status < 300, await r.text()
    ca = new_webhook_ca()
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem)
    api = RestClient(server=url, sa_dir=tmp_path / "no-sa")
    try:
        targets = BundleTargets(ca_file=tmp_path / "ca.crt", webhook_configuration="none", crds=(),
                                apiservices=tuple(args.apiservice))  # fmt: skip
        patched = await sync_once(api, targets)
        assert sorted(patched) == sorted(f"apiservice/{n}" for n in args.apiservice)
        for name in args.apiservice:
            got = await api.get(f"/apis/apiregistration.k8s.io/v1/apiservices/{name}")
            assert got is not None and base64.b64decode(got["spec"]["caBundle"]) == ca.cert_pem
        assert await sync_once(api, targets) == []  # current: nothing to patch
    finally:
        await api.close()
