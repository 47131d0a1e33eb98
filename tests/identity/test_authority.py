"""The CA: persistence and restarts, what leaves look like, refusing other identities."""

from __future__ import annotations

import datetime
import os
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from proxy.identity import keys
from smi.identity import CAStoreError, CertificateAuthority, CsrRejected, WorkloadIdentity, storage, x509s
from tests.identity.conftest import TD, issue, sid


def _verify_chain(leaf_chain_pem: str, bundle_pem: str) -> None:
    """Verify like a TLS peer would, with cryptography's path builder."""
    from cryptography.x509.verification import PolicyBuilder, Store

    chain = x509.load_pem_x509_certificates(leaf_chain_pem.encode())
    store = Store(x509.load_pem_x509_certificates(bundle_pem.encode()))
    verifier = PolicyBuilder().store(store).build_client_verifier()
    verifier.verify(chain[0], chain[1:])


def test_first_start_creates_the_ca_with_private_key_files(ca: CertificateAuthority, ca_dir: Path) -> None:
    assert sorted(p.name for p in ca_dir.iterdir()) == ["ca.crt", "tls.crt", "tls.key"]
    assert stat.S_IMODE(os.stat(ca_dir / "tls.key").st_mode) == 0o600
    assert ca.status().trust_domain == TD


def test_restart_keeps_the_same_root_and_verifies_earlier_leaves(ca: CertificateAuthority, ca_dir: Path) -> None:
    before = ca.status().active_root["sha256"]
    material = issue(ca, "web")
    again = CertificateAuthority.open(ca_dir, trust_domain=TD)
    assert again.status().active_root["sha256"] == before
    _verify_chain(material.chain_pem, again.trust_bundle_pem)


def test_restart_with_an_intermediate_keeps_it(tmp_path: Path) -> None:
    first = CertificateAuthority.open(tmp_path / "ca", trust_domain=TD, intermediate=True)
    material = issue(first, "web")
    assert len(x509.load_pem_x509_certificates(material.chain_pem.encode())) == 2
    again = CertificateAuthority.open(tmp_path / "ca", trust_domain=TD)
    assert again.status().signer == first.status().signer
    _verify_chain(material.chain_pem, again.trust_bundle_pem)


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (lambda d: (d / "tls.key").unlink(), "tls.key is missing"),
        (lambda d: (d / "ca.crt").write_text("garbage"), "cannot parse"),
        (lambda d: (d / "tls.key").write_bytes(x509s.key_to_pem(x509s.generate_key())), "does not match"),
    ],
)
def test_a_damaged_directory_fails_loudly_and_is_not_regenerated(
    ca: CertificateAuthority, ca_dir: Path, damage: object, says: str
) -> None:
    root_before = (ca_dir / "ca.crt").read_bytes()
    damage(ca_dir)  # type: ignore[operator]
    with pytest.raises(CAStoreError, match=says):
        CertificateAuthority.open(ca_dir, trust_domain=TD)
    assert not (ca_dir / "ca.crt").exists() or (ca_dir / "ca.crt").read_bytes() in (root_before, b"garbage")


def test_a_directory_for_another_trust_domain_is_refused(ca: CertificateAuthority, ca_dir: Path) -> None:
    with pytest.raises(CAStoreError, match=r"serves trust domain 'cluster.local', not 'example.org'"):
        CertificateAuthority.open(ca_dir, trust_domain="example.org")


def test_ca_loads_from_kubernetes_tls_secret_data(ca: CertificateAuthority) -> None:
    data = storage.to_secret_data(ca.material)
    assert set(data) == {"ca.crt", "tls.crt", "tls.key"}
    loaded = CertificateAuthority.from_secret(data)
    assert loaded.status().active_root == ca.status().active_root
    with pytest.raises(CAStoreError, match=r"Secret: tls.key is missing"):
        CertificateAuthority.from_secret({k: v for k, v in data.items() if k != "tls.key"})


def test_leaf_is_a_short_lived_spiffe_svid(tmp_path: Path) -> None:
    ca = CertificateAuthority.open(tmp_path / "ca", trust_domain=TD, leaf_lifetime=datetime.timedelta(seconds=5))
    material = issue(ca, "web", ns="shop")
    leaf = x509.load_pem_x509_certificates(material.chain_pem.encode())[0]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical and list(san.value) == [x509.UniformResourceIdentifier("spiffe://cluster.local/ns/shop/sa/web")]
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert (leaf.not_valid_after_utc - x509s.utcnow()).total_seconds() <= 5


def test_a_csr_for_someone_elses_identity_is_refused_and_counted(ca: CertificateAuthority) -> None:
    key = keys.generate_key()
    with pytest.raises(CsrRejected, match=r"default/a may only get a certificate for .*/sa/a, but the CSR asks"):
        ca.issue(keys.build_csr(key, sid("b")), identity=WorkloadIdentity("default", "a"))
    assert ca.status().refused == {"forbidden": 1}


def test_a_csr_with_extra_names_is_refused(ca: CertificateAuthority) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(sid("a")), x509.DNSName("evil.example")]),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    with pytest.raises(CsrRejected, match="exactly one SAN") as info:
        ca.issue(csr.public_bytes(serialization.Encoding.PEM), identity=WorkloadIdentity("default", "a"))
    assert not info.value.forbidden


def test_garbage_is_not_a_csr(ca: CertificateAuthority) -> None:
    with pytest.raises(CsrRejected, match="not a PEM certificate signing request"):
        ca.issue(b"hello", identity=WorkloadIdentity("default", "a"))
