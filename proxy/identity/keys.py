"""The workload's private key and its certificate signing request.

The key is ECDSA P-256, made in the proxy process and never sent anywhere: only the CSR
(public key + the SPIFFE id asked for, as the one URI SAN) goes to the CA.  A fresh key is
made for every renewal.

``cryptography`` makes the key and signs; the CSR's DER is written by ``proxy.identity.der``
(``cryptography.x509`` would cost the sidecar ~2 MB for that).
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from proxy.identity import der

PrivateKey = ec.EllipticCurvePrivateKey


def generate_key() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_key_info(key: PrivateKey) -> bytes:
    """The DER SubjectPublicKeyInfo of ``key`` (what a certificate for it contains)."""
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def build_csr(key: PrivateKey, identity: str) -> bytes:
    """A PEM CSR for ``identity`` (a ``spiffe://`` URI) signed with ``key``."""
    info = der.certification_request_info(public_key_info(key), identity)
    signature = key.sign(info, ec.ECDSA(hashes.SHA256()))
    return der.pem("CERTIFICATE REQUEST", der.certification_request(info, signature))


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
