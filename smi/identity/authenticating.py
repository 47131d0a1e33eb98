"""How a proxy proves who it is before it gets a certificate.

An :class:`Authenticator` turns a bearer credential into the :class:`WorkloadIdentity` it
proves, or raises :class:`AuthenticationFailed`.  Two exist:

* :class:`BootstrapTokenAuthenticator` (local runtime): the runtime mints one random token
  per pod with :meth:`~BootstrapTokenAuthenticator.mint` and hands it to that pod's sidecar
  (environment or file).  Only a SHA-256 hash of each token is kept, mapped to
  ``(namespace, pod, service account)``.
* ``TokenReviewAuthenticator`` (cluster, in ``smi.identity.tokenreview``): the proxy sends
  its projected ServiceAccount token, which the Kubernetes TokenReview API checks.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass
from typing import Protocol

from smi.identity.errors import AuthenticationFailed
from smi.proxyconfig.spiffe import spiffe_id


@dataclass(frozen=True, slots=True)
class WorkloadIdentity:
    namespace: str
    service_account: str
    pod: str | None = None  # known with bootstrap tokens; TokenReview may name it too

    def spiffe_id(self, trust_domain: str) -> str:
        return spiffe_id(trust_domain, self.namespace, self.service_account)

    def __str__(self) -> str:
        pod = f" (pod {self.pod})" if self.pod else ""
        return f"{self.namespace}/{self.service_account}{pod}"


class Authenticator(Protocol):
    async def authenticate(self, token: str) -> WorkloadIdentity: ...


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class BootstrapTokenAuthenticator:
    """Per-pod bootstrap tokens minted by the local runtime; the CA keeps only their hashes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, WorkloadIdentity] = {}

    def mint(self, *, namespace: str, pod: str, service_account: str) -> str:
        """A new token for one pod (any earlier token of that pod is revoked)."""
        spiffe_id("check.invalid", namespace, service_account)  # validates the names
        identity = WorkloadIdentity(namespace=namespace, service_account=service_account, pod=pod)
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._revoke(namespace, pod)
            self._tokens[_digest(token)] = identity
        return token

    def revoke(self, *, namespace: str, pod: str) -> None:
        with self._lock:
            self._revoke(namespace, pod)

    def _revoke(self, namespace: str, pod: str) -> None:
        for digest, identity in list(self._tokens.items()):
            if identity.namespace == namespace and identity.pod == pod:
                del self._tokens[digest]

    async def authenticate(self, token: str) -> WorkloadIdentity:
        if not token:
            raise AuthenticationFailed("no bootstrap token was presented")
        with self._lock:
            identity = self._tokens.get(_digest(token))
        if identity is None:
            raise AuthenticationFailed("the bootstrap token is unknown or was revoked")
        return identity
