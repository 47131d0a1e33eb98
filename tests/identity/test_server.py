"""The CA's HTTP API with bootstrap tokens (local runtime mode), driven by the proxy's manager."""

from __future__ import annotations

import aiohttp
import pytest

from proxy.identity import CertificateManager, CertificateRequestFailed, keys
from smi.identity import CertificateAuthority
from tests.identity.conftest import CaApi, sid


async def test_a_pod_gets_a_certificate_for_its_own_identity(ca: CertificateAuthority, ca_api: CaApi) -> None:
    token = ca_api.tokens.mint(namespace="default", pod="web-1", service_account="web")
    manager = CertificateManager(ca_url=ca_api.url, identity=sid("web"), credential=lambda: token)
    material = await manager.fetch()
    assert material.identity == sid("web")
    assert material.bundle_pem == ca.trust_bundle_pem


async def test_asking_for_someone_elses_identity_is_403_with_the_reason(ca_api: CaApi) -> None:
    token = ca_api.tokens.mint(namespace="default", pod="web-1", service_account="web")
    manager = CertificateManager(ca_url=ca_api.url, identity=sid("db"), credential=lambda: token)
    with pytest.raises(CertificateRequestFailed, match=r"HTTP 403: default/web .*may only get a certificate") as e:
        await manager.fetch()
    assert e.value.status == 403


@pytest.mark.parametrize("header", [None, "Bearer ", "Bearer not-a-token", "Basic abc"])
async def test_requests_without_a_valid_credential_are_401(ca_api: CaApi, header: str | None) -> None:
    csr = keys.build_csr(keys.generate_key(), sid("web"))
    headers = {"Authorization": header} if header is not None else {}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{ca_api.url}/v1/certificates", data=csr, headers=headers) as response,
    ):
        assert response.status == 401
        assert (await response.json())["error"]


async def test_a_revoked_token_no_longer_works(ca_api: CaApi) -> None:
    token = ca_api.tokens.mint(namespace="default", pod="web-1", service_account="web")
    ca_api.tokens.revoke(namespace="default", pod="web-1")
    manager = CertificateManager(ca_url=ca_api.url, identity=sid("web"), credential=lambda: token)
    with pytest.raises(CertificateRequestFailed, match="HTTP 401: the bootstrap token is unknown or was revoked"):
        await manager.fetch()


async def test_a_malformed_csr_is_400(ca_api: CaApi) -> None:
    token = ca_api.tokens.mint(namespace="default", pod="web-1", service_account="web")
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{ca_api.url}/v1/certificates", json={"csr": "nope"}, headers={"Authorization": f"Bearer {token}"}
        ) as response,
    ):
        assert response.status == 400
        assert "not a PEM certificate signing request" in (await response.json())["error"]


async def test_trust_bundle_endpoint(ca: CertificateAuthority, ca_api: CaApi) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{ca_api.url}/v1/trust-bundle") as response:
        assert await response.json() == {"trust_domain": "cluster.local", "trust_bundle": ca.trust_bundle_pem}


async def test_manager_keeps_its_certificate_and_retries_while_the_ca_is_down(
    ca: CertificateAuthority, ca_api: CaApi
) -> None:
    token = ca_api.tokens.mint(namespace="default", pod="web-1", service_account="web")
    manager = CertificateManager(
        ca_url=ca_api.url, identity=sid("web"), credential=lambda: token, retry_initial=0.05, retry_max=0.2
    )
    first = await manager.fetch()
    manager.current = first
    await ca_api.runner.cleanup()  # the CA goes away
    with pytest.raises(CertificateRequestFailed, match="unreachable"):
        await manager.start(give_up_after=0.5)
    assert manager.current is first and manager.failures >= 2
