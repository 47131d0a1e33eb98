"""The control plane's endpoints over TLS: proxies bootstrap with the bundle, then are identified."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from proxy.identity import CertificateManager, CertificateRequestFailed
from proxy.identity.contexts import control_plane_client_context
from smi.identity import BootstrapTokenAuthenticator, CertificateAuthority
from smi.identity.server import make_app
from smi.identity.serving import ControlPlaneTls, request_peer_identity
from tests.identity.conftest import sid


async def _whoami(request: web.Request) -> web.Response:
    return web.json_response({"identity": request_peer_identity(request)})


ControlPlane = tuple[str, BootstrapTokenAuthenticator, ControlPlaneTls]


@pytest.fixture
async def control_plane(ca: CertificateAuthority) -> AsyncIterator[ControlPlane]:
    tokens = BootstrapTokenAuthenticator()
    app = web.Application()
    app.add_subapp("/ca", make_app(ca, tokens))
    app.router.add_get("/whoami", _whoami)
    tls = ControlPlaneTls(ca, namespace="smi-system", service_account="smi-controller")
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls.listening)
    await site.start()
    yield f"https://127.0.0.1:{runner.addresses[0][1]}", tokens, tls
    await runner.cleanup()


async def test_a_proxy_bootstraps_over_tls_and_is_then_identified_by_its_certificate(
    ca: CertificateAuthority, control_plane: ControlPlane
) -> None:
    url, tokens, _ = control_plane
    token = tokens.mint(namespace="default", pod="web-1", service_account="web")
    manager = CertificateManager(
        ca_url=f"{url}/ca", identity=sid("web"), credential=lambda: token, bootstrap_bundle_pem=ca.trust_bundle_pem
    )
    material = await manager.start()
    try:
        anonymous = control_plane_client_context(ca.trust_bundle_pem)
        identified = control_plane_client_context(material.bundle_pem, material)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url}/whoami", ssl=anonymous) as response:
                assert await response.json() == {"identity": None}
            async with session.get(f"{url}/whoami", ssl=identified) as response:
                assert await response.json() == {"identity": sid("web")}
    finally:
        await manager.stop()


async def test_a_proxy_that_does_not_trust_the_bundle_refuses_the_control_plane(
    tmp_path: Path, control_plane: ControlPlane
) -> None:
    url, _, _ = control_plane
    other = CertificateAuthority.open(tmp_path / "other", trust_domain="cluster.local")
    manager = CertificateManager(
        ca_url=f"{url}/ca", identity=sid("web"), credential=lambda: "x", bootstrap_bundle_pem=other.trust_bundle_pem
    )
    with pytest.raises(CertificateRequestFailed, match="CERTIFICATE_VERIFY_FAILED"):
        await manager.fetch()


async def test_control_plane_certificate_follows_a_root_rotation(
    ca: CertificateAuthority, control_plane: ControlPlane
) -> None:
    url, _, tls = control_plane
    assert not tls.refresh()  # fresh: nothing to do
    ca.rotate()
    assert tls.refresh()
    ca.retire_old(force=True)
    assert tls.refresh()
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{url}/ca/v1/trust-bundle", ssl=control_plane_client_context(ca.trust_bundle_pem)) as response,
    ):
        assert (await response.json())["trust_bundle"] == ca.trust_bundle_pem
