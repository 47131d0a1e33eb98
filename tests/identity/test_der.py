"""The sidecar's own DER: CSRs the CA (and ``cryptography``) accept, certificates read right."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from proxy.identity import der, keys
from proxy.identity.material import InvalidMaterial, from_response
from smi.identity import CertificateAuthority, WorkloadIdentity
from tests.identity.conftest import sid


def test_csr_is_what_cryptography_would_build() -> None:
    key = keys.generate_key()
    csr = x509.load_pem_x509_csr(keys.build_csr(key, sid("web")))
    assert csr.is_signature_valid
    assert csr.subject == x509.Name([])
    assert csr.public_key() == key.public_key()
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical
    assert san.value.get_values_for_type(x509.UniformResourceIdentifier) == [sid("web")]
    reference = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(sid("web"))]), critical=True)
        .sign(key, hashes.SHA256())
    )
    assert csr.tbs_certrequest_bytes == reference.tbs_certrequest_bytes


def test_issued_certificate_is_read_like_cryptography_reads_it(ca: CertificateAuthority) -> None:
    key = keys.generate_key()
    issued = ca.issue(keys.build_csr(key, sid("web")), identity=WorkloadIdentity("default", "web"))
    material = from_response(key, sid("web"), issued.as_json())
    leaf = x509.load_pem_x509_certificates(material.chain_pem.encode())[0]
    assert material.serial == leaf.serial_number
    assert material.not_before == leaf.not_valid_before_utc
    assert material.not_after == leaf.not_valid_after_utc
    fields = der.read_certificate(der.pem_blocks(material.chain_pem)[0])
    assert fields.uris == (sid("web"),)
    root = der.read_certificate(der.pem_blocks(material.bundle_pem)[0])
    ref = x509.load_pem_x509_certificates(material.bundle_pem.encode())[0]
    ref_uris = ref.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(root.uris) == ref_uris.get_values_for_type(x509.UniformResourceIdentifier)
    assert root.not_after == ref.not_valid_after_utc > datetime.datetime.now(datetime.UTC)


def test_answers_that_do_not_fit_are_refused_with_a_reason(ca: CertificateAuthority) -> None:
    key = keys.generate_key()
    body = ca.issue(keys.build_csr(key, sid("web")), identity=WorkloadIdentity("default", "web")).as_json()
    with pytest.raises(InvalidMaterial, match="not for this proxy's key"):
        from_response(keys.generate_key(), sid("web"), body)
    with pytest.raises(InvalidMaterial, match=r"is for \['spiffe://cluster.local/ns/default/sa/web'\], not"):
        from_response(key, sid("db"), body)
    with pytest.raises(InvalidMaterial, match="not a certificate chain"):
        from_response(
            key,
            sid("web"),
            {**body, "certificate_chain": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"},
        )
    with pytest.raises(InvalidMaterial, match="no CERTIFICATE PEM block"):
        from_response(key, sid("web"), {**body, "trust_bundle": "nothing"})
    with pytest.raises(InvalidMaterial):
        from_response(key, sid("web"), None)


@given(st.binary(max_size=200))
def test_garbage_is_a_der_error_never_a_crash(data: bytes) -> None:
    try:
        der.read_certificate(data)
    except ValueError:
        pass


@given(st.lists(st.integers(min_value=0, max_value=2**40), min_size=1, max_size=6))
def test_oids_round_trip(arcs: list[int]) -> None:
    dotted = ".".join(str(a) for a in [1, 2, *arcs])
    encoded = der.encode_oid(dotted)
    assert der.decode_oid(encoded[2:]) == dotted


def test_signature_is_checked_by_the_key_not_by_us() -> None:
    key = keys.generate_key()
    info = der.certification_request_info(keys.public_key_info(key), sid("web"))
    tampered = der.pem(
        "CERTIFICATE REQUEST", der.certification_request(info, key.sign(b"other", ec.ECDSA(hashes.SHA256())))
    )
    assert not x509.load_pem_x509_csr(tampered).is_signature_valid
