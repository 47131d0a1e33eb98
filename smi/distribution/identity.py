"""Who is on the other end of a config stream.

The config server asks a ``PeerIdentity`` who the caller is.  Until mTLS exists the
answer comes from the request's query parameters (``QueryIdentity``); the mTLS work
swaps in an implementation that reads the client certificate, and nothing else changes.
A refusal is data (``IdentityRefused``) that the server turns into a 400/403 response.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

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
