"""Cluster mode: proxies prove their ServiceAccount with a token, checked by TokenReview.

kmock's ``KubernetesEmulator`` plays the API server: it answers TokenReview creates from a
table of known tokens, as the real one does for projected ServiceAccount tokens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import kmock
import pytest

from proxy.identity import CertificateManager, CertificateRequestFailed
from smi.identity import AuthenticationFailed, CertificateAuthority, TokenReviewAuthenticator
from tests.identity.conftest import serve_ca, sid

TOKENREVIEWS = kmock.resource("authentication.k8s.io", "v1", "tokenreviews")
CA_OWN_TOKEN = "ca-controller-token"
KNOWN_TOKENS = {
    "token-of-web": "system:serviceaccount:default:web",
    "token-of-a-user": "jane@example.com",
}


@pytest.fixture
async def apiserver(kmock: kmock.KubernetesEmulator) -> kmock.KubernetesEmulator:
    def review(request: kmock.Request) -> dict[str, Any]:
        # The emulator stores every create; a TokenReview is not stored by a real API server.
        for key in list(kmock.objects):
            if key[0] == TOKENREVIEWS:
                del kmock.objects[key]
        token = request.data["spec"]["token"]
        status: dict[str, Any] = {"authenticated": False, "error": "invalid bearer token"}
        if request.headers.get("Authorization") != f"Bearer {CA_OWN_TOKEN}":
            status = {"authenticated": False, "error": "the reviewer is not authorized"}
        elif token in KNOWN_TOKENS:
            extra = {"authentication.kubernetes.io/pod-name": ["web-7d9f"]}
            status = {"authenticated": True, "user": {"username": KNOWN_TOKENS[token], "extra": extra}}
        return {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": request.data["spec"],
            "status": status,
        }

    kmock.resources["authentication.k8s.io/v1/tokenreviews"] = {"kind": "TokenReview", "namespaced": False}
    kmock["post", TOKENREVIEWS] << review
    return kmock


@pytest.fixture
def reviewer(apiserver: kmock.KubernetesEmulator) -> TokenReviewAuthenticator:
    return TokenReviewAuthenticator(api_url=str(apiserver.url), credentials=lambda: CA_OWN_TOKEN)


@pytest.fixture
async def ca_url(ca: CertificateAuthority, reviewer: TokenReviewAuthenticator) -> AsyncIterator[str]:
    url, runner = await serve_ca(ca, reviewer)
    yield url
    await runner.cleanup()


async def test_a_valid_serviceaccount_token_gets_a_certificate_for_that_account(ca_url: str) -> None:
    manager = CertificateManager(ca_url=ca_url, identity=sid("web"), credential=lambda: "token-of-web")
    first = await manager.fetch()
    renewed = await manager.fetch()  # the API server is asked again each time
    assert first.identity == renewed.identity == sid("web")
    assert first.serial != renewed.serial


async def test_the_reviewed_identity_includes_the_pod(reviewer: TokenReviewAuthenticator) -> None:
    identity = await reviewer.authenticate("token-of-web")
    assert (identity.namespace, identity.service_account, identity.pod) == ("default", "web", "web-7d9f")


async def test_a_token_for_one_account_cannot_get_another(ca_url: str) -> None:
    manager = CertificateManager(ca_url=ca_url, identity=sid("db"), credential=lambda: "token-of-web")
    with pytest.raises(CertificateRequestFailed, match=r"HTTP 403: default/web .* asks for .*/sa/db") as e:
        await manager.fetch()
    assert e.value.status == 403


@pytest.mark.parametrize(
    ("token", "says"),
    [("forged", "not authenticated: invalid bearer token"), ("token-of-a-user", "not to a ServiceAccount")],
)
async def test_unauthenticated_or_non_workload_tokens_are_refused(ca_url: str, token: str, says: str) -> None:
    manager = CertificateManager(ca_url=ca_url, identity=sid("web"), credential=lambda: token)
    with pytest.raises(CertificateRequestFailed, match=f"HTTP 401: .*{says}"):
        await manager.fetch()


async def test_the_ca_authenticates_itself_to_the_api_server(apiserver: kmock.KubernetesEmulator) -> None:
    stranger = TokenReviewAuthenticator(api_url=str(apiserver.url), credentials=lambda: "wrong")
    with pytest.raises(AuthenticationFailed, match="the reviewer is not authorized"):
        await stranger.authenticate("token-of-web")


async def test_an_unreachable_api_server_refuses_rather_than_crashes() -> None:
    reviewer = TokenReviewAuthenticator(api_url="http://127.0.0.1:9", timeout=2)
    with pytest.raises(AuthenticationFailed, match="unreachable"):
        await reviewer.authenticate("token-of-web")
