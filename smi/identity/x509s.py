"""Small X.509 helpers the CA is built from: keys, CA certificates, PEM and fingerprints.

Only ``cryptography`` is used.  CA keys are ECDSA P-256.  Every root carries the URI SAN
``spiffe://<trust-domain>`` so that the trust domain travels with the root and a CA
loaded from files or a Secret knows which domain it serves.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CAKey = ec.EllipticCurvePrivateKey


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def generate_key() -> CAKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_to_pem(key: CAKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def key_from_pem(data: bytes) -> CAKey:
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"CA keys must be ECDSA keys, got {type(key).__name__}")
    return key


def certs_to_pem(certs: Iterable[x509.Certificate]) -> bytes:
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)


def certs_from_pem(data: bytes) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(data) if data.strip() else []


def key_usage(*, ca: bool) -> x509.KeyUsage:
    """digitalSignature for every certificate; keyCertSign and cRLSign too for a CA."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint, colon-separated upper-case hex (as ``openssl x509 -fingerprint``)."""
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


def same_public_key(key: CAKey, cert: x509.Certificate) -> bool:
    def spki(public: object) -> bytes:
        assert isinstance(public, ec.EllipticCurvePublicKey)
        return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    public = cert.public_key()
    return isinstance(public, ec.EllipticCurvePublicKey) and spki(key.public_key()) == spki(public)


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def is_self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, Exception):
        return False
    return True


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:
        return False
    return True


def uri_sans(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return [str(v) for v in ext.value.get_values_for_type(x509.UniformResourceIdentifier)]


def trust_domain_of(cert: x509.Certificate) -> str | None:
    for uri in uri_sans(cert):
        if uri.startswith("spiffe://") and "/" not in uri[len("spiffe://") :]:
            return uri[len("spiffe://") :]
    return None


def ca_name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "smi-mesh"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def build_ca_cert(
    *,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    issuer: x509.Name,
    issuer_key: CAKey,
    trust_domain: str,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
    path_length: int | None,
) -> x509.Certificate:
    """A CA certificate: a root (issuer == subject), an intermediate, or a cross-signed root."""
    issuer_public = issuer_key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            key_usage(ca=True),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(f"spiffe://{trust_domain}")]),
            critical=False,
        )
        .sign(issuer_key, hashes.SHA256())
    )


def find_issuer(cert: x509.Certificate, candidates: Sequence[x509.Certificate]) -> x509.Certificate | None:
    for candidate in candidates:
        if candidate.subject == cert.issuer and signed_by(cert, candidate):
            return candidate
    return None
