"""Who is on the other end of a config stream.

The config server asks a ``PeerIdentity`` who the caller is.  The proxy names its pod in
the query (``?namespace=&pod=``):

* ``QueryIdentity`` trusts that claim (plain-text dev/test mode, ``--insecure-plaintext``);
* ``CertificateIdentity`` (the default over TLS) accepts it only when the request's
  verified client certificate is the SPIFFE id of that pod's ServiceAccount, so a proxy
  can read only the config of a pod that runs as its own identity.

A refusal is data (``IdentityRefused``) that the server turns into a 400/403 response.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from smi.identity.serving import request_peer_identity
from smi.model import Pod
from smi.proxyconfig.spiffe import spiffe_id
from smi.state import Store

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


@dataclass(frozen=True, slots=True, order=True)
class ProxyId:
    """The pod a proxy sits next to."""

    namespace: str
    pod: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.pod}"


@dataclass(frozen=True, slots=True)
class IdentityRefused:
    status: int  # 400: malformed request, 403: not allowed
    reason: str


class PeerIdentity(Protocol):
    def identify(self, request: web.BaseRequest) -> ProxyId | IdentityRefused: ...


class QueryIdentity:
    """Trust ``?namespace=<ns>&pod=<pod>`` (plain-text, pre-mTLS mode)."""

    def identify(self, request: web.BaseRequest) -> ProxyId | IdentityRefused:
        namespace = request.query.get("namespace", "")
        pod = request.query.get("pod", "")
        problems = []
        if not _DNS_LABEL.match(namespace) or len(namespace) > 63:
            problems.append(f"query parameter namespace: must be a DNS label, got {namespace!r}")
        if not _DNS_SUBDOMAIN.match(pod) or len(pod) > 253:
            problems.append(f"query parameter pod: must be a DNS subdomain name, got {pod!r}")
        if problems:
            return IdentityRefused(status=400, reason="; ".join(problems))
        return ProxyId(namespace=namespace, pod=pod)


PodIdentity = Callable[[ProxyId], str | None]  # the SPIFFE id a pod runs as (None: unknown pod)
PresentedIdentity = Callable[[web.BaseRequest], str | None]  # the verified client certificate's id


def pod_identities(store: Store, *, trust_domain: str) -> PodIdentity:
    """Look a pod's ServiceAccount up in the store's current snapshot."""

    def identity(who: ProxyId) -> str | None:
        pod = store.snapshot().get(Pod, who.namespace, who.pod)
        if pod is None:
            return None
        return spiffe_id(trust_domain, who.namespace, pod.spec.service_account or "default")

    return identity


def _presented(request: web.BaseRequest) -> str | None:
    return request_peer_identity(request)  # type: ignore[arg-type]  # reads only .transport


class CertificateIdentity:
    """The pod named in the query, if the client certificate proves its ServiceAccount identity."""

    def __init__(self, expected: PodIdentity, *, presented: PresentedIdentity = _presented) -> None:
        self._expected = expected
        self._presented = presented
        self._query = QueryIdentity()

    def identify(self, request: web.BaseRequest) -> ProxyId | IdentityRefused:
        who = self._query.identify(request)
        if isinstance(who, IdentityRefused):
            return who
        presented = self._presented(request)
        if presented is None:
            return IdentityRefused(status=403, reason="no client certificate: present the proxy's workload certificate")
        wanted = self._expected(who)
        if wanted is None:
            return IdentityRefused(status=403, reason=f"pod {who} is unknown to the control plane")
        if presented != wanted:
            return IdentityRefused(
                status=403, reason=f"the client certificate is {presented}, but pod {who} runs as {wanted}"
            )
        return who
