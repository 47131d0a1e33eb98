"""Authenticating proxies by their ServiceAccount token with the Kubernetes TokenReview API.

The proxy presents its projected ServiceAccount token.  The CA posts an
``authentication.k8s.io/v1`` TokenReview to the API server (authenticating itself with its
own token, which needs RBAC to ``create tokenreviews``) and maps the reviewed user name
``system:serviceaccount:<ns>:<sa>`` to the workload identity.  The pod name comes from the
``authentication.kubernetes.io/pod-name`` extra when the token is a bound (projected) one.

aiohttp is used directly (not the blocking ``kubernetes`` client) so the CA's event loop
never blocks on the API server.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp

from smi.identity.authenticating import WorkloadIdentity
from smi.identity.errors import AuthenticationFailed

logger = logging.getLogger(__name__)

PATH = "/apis/authentication.k8s.io/v1/tokenreviews"
SA_PREFIX = "system:serviceaccount:"
POD_NAME_EXTRA = "authentication.kubernetes.io/pod-name"


class TokenReviewAuthenticator:
    def __init__(
        self,
        *,
        api_url: str,
        credentials: Callable[[], str | None] | None = None,
        audiences: Sequence[str] = (),
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 10.0,
    ) -> None:
        """``credentials`` returns the CA's own bearer token (re-read each time: it rotates)."""
        self._url = api_url.rstrip("/") + PATH
        self._credentials = credentials
        self._audiences = list(audiences)
        self._ssl = ssl_context
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def authenticate(self, token: str) -> WorkloadIdentity:
        if not token:
            raise AuthenticationFailed("no ServiceAccount token was presented")
        review: dict[str, Any] = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token, **({"audiences": self._audiences} if self._audiences else {})},
        }
        headers = {}
        own = self._credentials() if self._credentials else None
        if own:
            headers["Authorization"] = f"Bearer {own}"
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.post(self._url, json=review, headers=headers, ssl=self._ssl or True) as response,
            ):
                if response.status >= 300:
                    text = (await response.text())[:256]
                    logger.warning("TokenReview failed: HTTP %s: %s", response.status, text)
                    raise AuthenticationFailed(f"the TokenReview API answered HTTP {response.status}")
                result = await response.json()
        except (aiohttp.ClientError, TimeoutError) as e:
            raise AuthenticationFailed(f"the TokenReview API is unreachable: {e!r}") from e
        return _identity_of(result)


def _identity_of(result: Any) -> WorkloadIdentity:
    status = result.get("status") if isinstance(result, dict) else None
    if not isinstance(status, dict) or not status.get("authenticated"):
        error = status.get("error") if isinstance(status, dict) else None
        raise AuthenticationFailed(f"the token was not authenticated{': ' + str(error) if error else ''}")
    user = status.get("user") or {}
    username = str(user.get("username", ""))
    if not username.startswith(SA_PREFIX):
        raise AuthenticationFailed(f"the token belongs to {username!r}, not to a ServiceAccount")
    namespace, _, name = username[len(SA_PREFIX) :].partition(":")
    if not namespace or not name:
        raise AuthenticationFailed(f"malformed ServiceAccount user name {username!r}")
    pods = (user.get("extra") or {}).get(POD_NAME_EXTRA) or []
    return WorkloadIdentity(namespace=namespace, service_account=name, pod=str(pods[0]) if pods else None)
