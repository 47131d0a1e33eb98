"""SPIFFE identities of workloads: ``spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>``.

The identity of a workload in the mesh is its Kubernetes ServiceAccount.  Both sides use
this module: the control plane (``smi.identity``) puts the id in the URI SAN of the
certificates it issues; the proxy (``proxy.identity``) reads it back from the verified peer
certificate and compares it with the ids a TrafficTarget allows.  It lives in
``smi.proxyconfig`` because that is the only control-plane package the proxy may import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

SCHEME: Final = "spiffe://"

# Trust domains are lower-case DNS-like names; path segments are Kubernetes names.
_TRUST_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,253}[a-z0-9])?$")
_SEGMENT = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")


class InvalidSpiffeId(ValueError):
    """A string that is not a workload SPIFFE id of this mesh; the message says why."""


@dataclass(frozen=True, slots=True)
class SpiffeId:
    trust_domain: str
    namespace: str
    service_account: str

    @property
    def uri(self) -> str:
        return workload_id(self.trust_domain, self.namespace, self.service_account)

    def __str__(self) -> str:
        return self.uri


def workload_id(trust_domain: str, namespace: str, service_account: str) -> str:
    """``spiffe://<trust-domain>/ns/<ns>/sa/<sa>``, unchecked: for parts already validated (the compile's)."""
    return f"{SCHEME}{trust_domain}/ns/{namespace}/sa/{service_account}"


def spiffe_id(trust_domain: str, namespace: str, service_account: str) -> str:
    """The SPIFFE id (as a URI string) of a ServiceAccount; validates every part."""
    check_trust_domain(trust_domain)
    for what, value in (("namespace", namespace), ("service account", service_account)):
        if not _SEGMENT.match(value):
            raise InvalidSpiffeId(f"invalid {what} {value!r}: must be a lower-case Kubernetes name")
    return workload_id(trust_domain, namespace, service_account)


def check_trust_domain(trust_domain: str) -> str:
    if not _TRUST_DOMAIN.match(trust_domain):
        raise InvalidSpiffeId(f"invalid trust domain {trust_domain!r}: must be a lower-case DNS-like name")
    return trust_domain


def parse_spiffe_id(uri: str) -> SpiffeId:
    """Parse ``spiffe://<td>/ns/<ns>/sa/<sa>``; raise :class:`InvalidSpiffeId` naming the problem."""
    if not uri.startswith(SCHEME):
        raise InvalidSpiffeId(f"not a SPIFFE id: {uri!r}: must start with {SCHEME}")
    trust_domain, _, path = uri[len(SCHEME) :].partition("/")
    parts = path.split("/")
    if len(parts) != 4 or parts[0] != "ns" or parts[2] != "sa":
        raise InvalidSpiffeId(f"not a workload SPIFFE id: {uri!r}: the path must be /ns/<namespace>/sa/<sa>")
    spiffe_id(trust_domain, parts[1], parts[3])  # validates
    return SpiffeId(trust_domain, parts[1], parts[3])
