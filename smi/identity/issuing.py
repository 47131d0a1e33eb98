"""Turning a workload's CSR into a short-lived SPIFFE leaf certificate.

A CSR is accepted only when its signature is valid, its key is strong enough, and its
only subject alternative name is the URI SAN of the identity the caller *proved* (see
``authenticating``).  The subject is ignored; the leaf's subject is empty and its SAN is
critical, as X.509-SVIDs are.  Leaves are end-entity certificates with key usage
digitalSignature and extended key usage serverAuth + clientAuth, valid from a little
before now (clock skew) until ``now + lifetime``, never past the signer's own expiry.
"""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from smi.identity import x509s
from smi.identity.errors import CsrRejected
from smi.identity.material import CAMaterial

LEAF_BACKDATE = datetime.timedelta(seconds=30)


def parse_csr(pem: bytes) -> x509.CertificateSigningRequest:
    try:
        csr = x509.load_pem_x509_csr(pem)
    except ValueError as e:
        raise CsrRejected(f"the body is not a PEM certificate signing request: {e}") from e
    if not csr.is_signature_valid:
        raise CsrRejected("the CSR's signature does not verify against its own public key")
    key = csr.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        raise CsrRejected(f"RSA keys must have at least 2048 bits, got {key.key_size}")
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise CsrRejected(f"unsupported key type {type(key).__name__}: use ECDSA P-256")
    return csr


def requested_identity(csr: x509.CertificateSigningRequest) -> str:
    """The one URI SAN the CSR asks for; any other SAN, or none, is refused."""
    try:
        sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise CsrRejected("the CSR has no subject alternative name: it must ask for one SPIFFE id") from None
    names = list(sans)
    if len(names) != 1 or not isinstance(names[0], x509.UniformResourceIdentifier):
        shown = ", ".join(str(n.value) for n in names)
        raise CsrRejected(f"the CSR must carry exactly one SAN, the SPIFFE URI; it has: {shown}")
    return str(names[0].value)


def build_leaf(
    *,
    material: CAMaterial,
    csr: x509.CertificateSigningRequest,
    identity: str,
    lifetime: datetime.timedelta,
    now: datetime.datetime,
    extra_names: tuple[x509.GeneralName, ...] = (),
) -> x509.Certificate:
    """A leaf for ``identity``; ``extra_names`` (DNS/IP SANs) only for the control plane's own serving cert."""
    public_key = csr.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey)
    signer = material.signer_cert
    not_after = min(now + lifetime, signer.not_valid_after_utc)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(signer.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(max(now - LEAF_BACKDATE, signer.not_valid_before_utc))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509s.key_usage(ca=False),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(identity), *extra_names]), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(material.signer_key.public_key()), critical=False
        )
        .sign(material.signer_key, hashes.SHA256())
    )


def chain_pem(leaf: x509.Certificate, material: CAMaterial) -> str:
    return x509s.certs_to_pem((leaf, *material.chain)).decode()
