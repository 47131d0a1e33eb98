"""The config stream over TLS: proxies are identified by their client certificate.

A real ``ConfigService`` with the real CA (``ControlPlaneTls`` + the signing API under
``/ca``) on loopback; clients present real workload certificates.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from proxy.identity import keys
from proxy.identity.contexts import control_plane_client_context
from proxy.identity.material import WorkloadMaterial, from_response
from proxy.running import Proxy
from proxy.settings import ProxySettings
from smi.distribution import ConfigService
from smi.distribution.identity import CertificateIdentity, pod_identities
from smi.identity import BootstrapTokenAuthenticator, CertificateAuthority, WorkloadIdentity, spiffe_id
from smi.identity.server import make_app
from smi.identity.serving import ControlPlaneTls
from smi.state import Store
from tests.distribution.helpers import names_compiler, pod, wait_until

TD = "cluster.local"


def issue(ca: CertificateAuthority, sa: str, ns: str = "default") -> WorkloadMaterial:
    key = keys.generate_key()
    issued = ca.issue(keys.build_csr(key, spiffe_id(TD, ns, sa)), identity=WorkloadIdentity(ns, sa))
    return from_response(key, issued.identity, issued.as_json())


class Plane:
    def __init__(self, ca: CertificateAuthority, tokens: BootstrapTokenAuthenticator, service: ConfigService) -> None:
        self.ca = ca
        self.tokens = tokens
        self.service = service


@pytest.fixture
async def plane(tmp_path: Path) -> AsyncIterator[Plane]:
    ca = CertificateAuthority.open(tmp_path / "ca", trust_domain=TD, leaf_lifetime=datetime.timedelta(hours=1))
    store = Store()
    store.apply(pod("web-1", sa="web"))
    tokens = BootstrapTokenAuthenticator()
    service = ConfigService(
        store=store, compiler=names_compiler, synced=True,
        tls=ControlPlaneTls(ca, namespace="smi-system", service_account="smi-controller"),
        identity=CertificateIdentity(pod_identities(store, trust_domain=TD)), ca_app=make_app(ca, tokens),
    )  # fmt: skip
    async with service:
        yield Plane(ca, tokens, service)


async def first_line(plane: Plane, material: WorkloadMaterial | None, *, pod: str = "web-1") -> tuple[int, str]:
    context = control_plane_client_context(plane.ca.trust_bundle_pem, material)
    url = f"{plane.service.url}/v1/config/stream"
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, params={"namespace": "default", "pod": pod}, ssl=context) as response,
    ):
        if response.status != 200:
            return response.status, await response.text()
        return 200, (await response.content.readline()).decode()


async def test_the_pods_own_identity_gets_its_config(plane: Plane) -> None:
    assert plane.service.url.startswith("https://")
    status, line = await first_line(plane, issue(plane.ca, "web"))
    assert status == 200
    message: Any = json.loads(line)
    assert message["type"] == "config" and message["config"]["node"]["pod"] == "web-1"


async def test_a_certificate_for_another_identity_gets_403(plane: Plane) -> None:
    status, text = await first_line(plane, issue(plane.ca, "db"))
    assert status == 403
    assert "sa/db" in text and "default/web-1 runs as spiffe://cluster.local/ns/default/sa/web" in text


async def test_no_client_certificate_gets_403(plane: Plane) -> None:
    status, text = await first_line(plane, None)
    assert (status, "no client certificate" in text) == (403, True)


async def test_an_unknown_pod_gets_403(plane: Plane) -> None:
    status, text = await first_line(plane, issue(plane.ca, "web"), pod="ghost")
    assert status == 403 and "default/ghost is unknown" in text


async def test_plain_http_is_not_served(plane: Plane) -> None:
    url = plane.service.url.replace("https://", "http://") + "/healthz"
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):
            async with session.get(url) as response:
                await response.read()


async def test_a_proxy_gets_a_certificate_then_its_config_over_tls(plane: Plane, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(plane.tokens.mint(namespace="default", pod="web-1", service_account="web"))
    proxy = Proxy(
        ProxySettings(
            namespace="default", pod="web-1", control_plane=plane.service.url, outbound=None, inbound=None,
            admin=None, mtls="strict", ca_url=plane.service.url + "/ca", token_file=token,
            trust_bundle_pem=plane.ca.trust_bundle_pem, identity=spiffe_id(TD, "default", "web"),
        )
    )  # fmt: skip
    await proxy.start()
    try:
        await wait_until(lambda: proxy.holder.current is not None, within=10, what="the config over TLS")
        assert proxy.holder.current is not None and proxy.holder.current.config.node.pod == "web-1"
    finally:
        await proxy.stop()


async def test_a_proxy_cannot_get_a_certificate_for_someone_else(plane: Plane, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(plane.tokens.mint(namespace="default", pod="web-1", service_account="web"))
    proxy = Proxy(
        ProxySettings(
            outbound=None, inbound=None, admin=None, mtls="strict", ca_url=plane.service.url + "/ca",
            token_file=token, trust_bundle_pem=plane.ca.trust_bundle_pem, identity=spiffe_id(TD, "default", "db"),
            certificate_timeout=0.3,
        )
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"HTTP 403"):
        await proxy.start()
    await proxy.stop()
