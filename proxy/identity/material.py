"""What a workload holds after the CA signed its CSR: key, chain, trust bundle, validity."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from cryptography import x509

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


def uri_sans(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return [str(v) for v in ext.value.get_values_for_type(x509.UniformResourceIdentifier)]


def from_response(key: PrivateKey, identity: str, body: Any) -> WorkloadMaterial:
    """Check the CA's JSON answer against the key and the identity asked for."""
    try:
        chain_pem = str(body["certificate_chain"])
        bundle_pem = str(body["trust_bundle"])
        chain = x509.load_pem_x509_certificates(chain_pem.encode())
        x509.load_pem_x509_certificates(bundle_pem.encode())
    except (KeyError, TypeError, ValueError) as e:
        raise InvalidMaterial(f"the CA's answer is not a certificate chain and a trust bundle: {e!r}") from e
    leaf = chain[0]
    if leaf.public_key() != key.public_key():
        raise InvalidMaterial("the certificate is not for this proxy's key")
    if identity not in uri_sans(leaf):
        raise InvalidMaterial(f"the certificate is for {uri_sans(leaf)}, not {identity}")
    return WorkloadMaterial(
        identity=identity,
        key=key,
        chain_pem=chain_pem,
        bundle_pem=bundle_pem,
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        serial=leaf.serial_number,
    )
