"""How a proxy proves who it is before it gets a certificate.

An :class:`Authenticator` turns a bearer credential into the :class:`WorkloadIdentity` it
proves, or raises :class:`AuthenticationFailed`.  Two exist:

* :class:`BootstrapTokenAuthenticator` (local runtime): the runtime mints one random token
  per pod with :meth:`~BootstrapTokenAuthenticator.mint` and hands it to that pod's sidecar
  (environment or file).  Only a SHA-256 hash of each token is kept, mapped to
  ``(namespace, pod, service account)``.  A separate control plane process
  (``smi controller --authenticator bootstrap --bootstrap-tokens PATH``) loads tokens minted
  elsewhere with :func:`load_bootstrap_tokens`.
* ``TokenReviewAuthenticator`` (cluster, in ``smi.identity.tokenreview``): the proxy sends
  its projected ServiceAccount token, which the Kubernetes TokenReview API checks.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

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
        self._one_time: set[str] = set()  # digests accepted only once
        self._live: dict[tuple[str, str], WorkloadIdentity] = {}  # (namespace, pod) -> identity, until revoked

    def mint(self, *, namespace: str, pod: str, service_account: str, one_time: bool = False) -> str:
        """A new token for one pod (any earlier token of that pod is revoked).

        ``one_time``: the token is accepted once; the sidecar renews with the certificate it
        got (:meth:`may_renew`), so a token read later from the pod's file is worth nothing.
        """
        spiffe_id("check.invalid", namespace, service_account)  # validates the names
        identity = WorkloadIdentity(namespace=namespace, service_account=service_account, pod=pod)
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._revoke(namespace, pod)
            digest = _digest(token)
            self._tokens[digest] = identity
            self._live[(namespace, pod)] = identity
            if one_time:
                self._one_time.add(digest)
        return token

    def add(self, token: str, *, namespace: str, pod: str, service_account: str) -> None:
        """Accept a token minted elsewhere (any earlier token of that pod is revoked)."""
        spiffe_id("check.invalid", namespace, service_account)
        if len(token) < 16:
            raise ValueError(f"the bootstrap token of {namespace}/{pod} is too short (< 16 characters)")
        identity = WorkloadIdentity(namespace=namespace, service_account=service_account, pod=pod)
        with self._lock:
            self._revoke(namespace, pod)
            self._tokens[_digest(token)] = identity
            self._live[(namespace, pod)] = identity

    def revoke(self, *, namespace: str, pod: str) -> None:
        with self._lock:
            self._revoke(namespace, pod)

    def _revoke(self, namespace: str, pod: str) -> None:
        self._live.pop((namespace, pod), None)
        for digest, identity in list(self._tokens.items()):
            if identity.namespace == namespace and identity.pod == pod:
                del self._tokens[digest]
                self._one_time.discard(digest)

    def may_renew(self, namespace: str, service_account: str) -> bool:
        """Whether a certificate of this ServiceAccount may be renewed: a pod running as it is not revoked."""
        with self._lock:
            return any(i.namespace == namespace and i.service_account == service_account for i in self._live.values())

    async def authenticate(self, token: str) -> WorkloadIdentity:
        if not token:
            raise AuthenticationFailed("no bootstrap token was presented")
        digest = _digest(token)
        with self._lock:
            identity = self._tokens.get(digest)
            if identity is not None and digest in self._one_time:
                del self._tokens[digest]  # used: a second presentation is refused
                self._one_time.discard(digest)
        if identity is None:
            raise AuthenticationFailed("the bootstrap token is unknown or was revoked")
        return identity


def load_bootstrap_tokens(path: Path, into: BootstrapTokenAuthenticator) -> int:
    """Load ``path`` (a JSON file, or a directory of ``*.json`` files) into ``into``; returns the count.

    Each file holds a list of ``{"token", "namespace", "pod", "service_account"}`` objects.
    A bad file or entry raises ``ValueError`` naming the file, the entry and the problem.
    """
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    count = 0
    for file in files:
        try:
            entries: Any = json.loads(file.read_text())
        except (OSError, ValueError) as e:
            raise ValueError(f"{file}: not a readable JSON file: {e}") from e
        if not isinstance(entries, list):
            raise ValueError(f"{file}: expected a JSON list of token entries")
        for i, entry in enumerate(entries):
            try:
                into.add(
                    str(entry["token"]), namespace=str(entry["namespace"]), pod=str(entry["pod"]),
                    service_account=str(entry["service_account"]),
                )  # fmt: skip
            except (KeyError, TypeError, ValueError) as e:
                raise ValueError(f"{file}: entry {i}: {e!r}") from e
            count += 1
    return count
