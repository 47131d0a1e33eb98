"""What a workload holds after the CA signed its CSR: key, chain, trust bundle, validity.

Certificates are read with ``proxy.identity.der`` (not ``cryptography.x509``, ~2 MB of an
idle sidecar); only the key comparison needs ``cryptography``, whose key the caller holds.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from proxy.identity import der

if TYPE_CHECKING:
    from proxy.identity.keys import PrivateKey


class InvalidMaterial(ValueError):
    """The CA's answer is unusable (bad PEM, wrong identity, wrong key); the message says why."""


@dataclass(frozen=True, slots=True)
class WorkloadMaterial:
    identity: str
    key: PrivateKey
    chain_pem: str  # the leaf first
    bundle_pem: str  # trusted roots
    not_before: datetime.datetime
    not_after: datetime.datetime
    serial: int

    def expired(self, now: datetime.datetime) -> bool:
        return now >= self.not_after


def uri_sans(cert_der: bytes) -> list[str]:
    """The URI subjectAltNames of a DER certificate."""
    return list(der.read_certificate(cert_der).uris)


def from_response(key: PrivateKey, identity: str, body: Any) -> WorkloadMaterial:
    """Check the CA's JSON answer against the key and the identity asked for."""
    from proxy.identity.keys import public_key_info

    try:
        chain_pem = str(body["certificate_chain"])
        bundle_pem = str(body["trust_bundle"])
        leaf = der.read_certificate(der.pem_blocks(chain_pem)[0])
        for root in der.pem_blocks(bundle_pem):
            der.read_certificate(root)
    except (KeyError, TypeError, ValueError) as e:
        raise InvalidMaterial(f"the CA's answer is not a certificate chain and a trust bundle: {e!r}") from e
    if leaf.spki_der != public_key_info(key):
        raise InvalidMaterial("the certificate is not for this proxy's key")
    if identity not in leaf.uris:
        raise InvalidMaterial(f"the certificate is for {list(leaf.uris)}, not {identity}")
    return WorkloadMaterial(
        identity=identity,
        key=key,
        chain_pem=chain_pem,
        bundle_pem=bundle_pem,
        not_before=leaf.not_before,
        not_after=leaf.not_after,
        serial=leaf.serial,
    )
