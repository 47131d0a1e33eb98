"""The workload's private key and its certificate signing request.

The key is ECDSA P-256, made in the proxy process and never sent anywhere: only the CSR
(public key + the SPIFFE id asked for, as the one URI SAN) goes to the CA.  A fresh key is
made for every renewal.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

PrivateKey = ec.EllipticCurvePrivateKey


def generate_key() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def build_csr(key: PrivateKey, identity: str) -> bytes:
    """A PEM CSR for ``identity`` (a ``spiffe://`` URI) signed with ``key``."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(identity)]), critical=True)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
