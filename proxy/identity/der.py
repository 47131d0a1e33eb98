"""Just enough DER (X.690) for the workload's CSR and for reading its certificates.

``cryptography.x509`` costs an idle sidecar ~2 MB for two small jobs, so the sidecar does
them here, with no cryptographic operation of its own (signing stays with
``cryptography``'s EC key, verification with OpenSSL through ``ssl``):

* :func:`certification_request_info`: the to-be-signed part of a PKCS #10 CSR (RFC 2986)
  with an empty subject and one critical subjectAltName URI (the SPIFFE id), and
  :func:`certification_request` wrapping it with an ``ecdsa-with-SHA256`` signature;
* :func:`read_certificate`: serial, validity, public key info and URI SANs of an X.509
  certificate (RFC 5280), and :func:`pem_blocks` to split PEM text.

Malformed input raises :class:`DerError` (a ``ValueError``) naming what is wrong.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re
from dataclasses import dataclass
from typing import Final

SEQUENCE: Final = 0x30
SET: Final = 0x31
INTEGER: Final = 0x02
BIT_STRING: Final = 0x03
OCTET_STRING: Final = 0x04
OID: Final = 0x06
BOOLEAN: Final = 0x01
UTC_TIME: Final = 0x17
GENERALIZED_TIME: Final = 0x18
URI_NAME: Final = 0x86  # GeneralName uniformResourceIdentifier: [6] IMPLICIT IA5String

OID_EXTENSION_REQUEST: Final = "1.2.840.113549.1.9.14"
OID_SUBJECT_ALT_NAME: Final = "2.5.29.17"
OID_ECDSA_WITH_SHA256: Final = "1.2.840.10045.4.3.2"


class DerError(ValueError):
    """Not the DER structure expected."""


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _length(len(content)) + content


def encode_oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return tlv(OID, bytes(out))


def certification_request_info(spki_der: bytes, uri: str) -> bytes:
    """CertificationRequestInfo: version 0, empty subject, the key, extensionRequest(SAN URI, critical)."""
    names = tlv(SEQUENCE, tlv(URI_NAME, uri.encode("ascii")))
    extension = tlv(SEQUENCE, encode_oid(OID_SUBJECT_ALT_NAME) + tlv(BOOLEAN, b"\xff") + tlv(OCTET_STRING, names))
    attribute = tlv(SEQUENCE, encode_oid(OID_EXTENSION_REQUEST) + tlv(SET, tlv(SEQUENCE, extension)))
    attributes = tlv(0xA0, attribute)  # [0] IMPLICIT SET OF Attribute
    return tlv(SEQUENCE, tlv(INTEGER, b"\x00") + tlv(SEQUENCE, b"") + spki_der + attributes)


def certification_request(info: bytes, signature: bytes) -> bytes:
    """The CSR: ``info`` signed (DER ECDSA ``signature``) with ecdsa-with-SHA256."""
    algorithm = tlv(SEQUENCE, encode_oid(OID_ECDSA_WITH_SHA256))
    return tlv(SEQUENCE, info + algorithm + tlv(BIT_STRING, b"\x00" + signature))


def pem(label: str, der: bytes) -> bytes:
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return (
        b"-----BEGIN " + label.encode() + b"-----\n" + b"\n".join(lines) + b"\n-----END " + label.encode() + b"-----\n"
    )


_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)


def pem_blocks(text: str, label: str = "CERTIFICATE") -> list[bytes]:
    """The DER of every ``label`` block in ``text``; :class:`DerError` when there is none."""
    blocks = []
    for found, body in _PEM.findall(text):
        if found != label:
            continue
        try:
            blocks.append(base64.b64decode("".join(body.split()), validate=True))
        except (binascii.Error, ValueError) as e:
            raise DerError(f"a {label} PEM block is not base64: {e}") from e
    if not blocks:
        raise DerError(f"no {label} PEM block found")
    return blocks


def _read(data: bytes, at: int) -> tuple[int, bytes, int]:
    """(tag, content, next offset) of the element at ``at``."""
    if at + 2 > len(data):
        raise DerError("truncated element")
    tag, first = data[at], data[at + 1]
    at += 2
    if first & 0x80:
        size = first & 0x7F
        if size == 0 or size > 4 or at + size > len(data):
            raise DerError("bad length")
        length = int.from_bytes(data[at : at + size], "big")
        at += size
    else:
        length = first
    if at + length > len(data):
        raise DerError("truncated element")
    return tag, data[at : at + length], at + length


def children(content: bytes) -> list[tuple[int, bytes, bytes]]:
    """(tag, content, whole encoding) of each element in a constructed ``content``."""
    out, at = [], 0
    while at < len(content):
        tag, inner, end = _read(content, at)
        out.append((tag, inner, content[at:end]))
        at = end
    return out


def _expect(element: tuple[int, bytes, bytes], tag: int, what: str) -> bytes:
    if element[0] != tag:
        raise DerError(f"{what}: expected tag 0x{tag:02x}, got 0x{element[0]:02x}")
    return element[1]


def decode_oid(content: bytes) -> str:
    if not content:
        raise DerError("empty OID")
    arcs = [content[0] // 40, content[0] % 40] if content[0] < 80 else [2, content[0] - 80]
    value = 0
    for byte in content[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    return ".".join(str(a) for a in arcs)


def _time(tag: int, content: bytes) -> datetime.datetime:
    text = content.decode("ascii", errors="replace")
    try:
        if tag == UTC_TIME:
            parsed = datetime.datetime.strptime(text, "%y%m%d%H%M%SZ")
        elif tag == GENERALIZED_TIME:
            parsed = datetime.datetime.strptime(text, "%Y%m%d%H%M%SZ")
        else:
            raise DerError(f"validity: unexpected time tag 0x{tag:02x}")
    except ValueError as e:
        raise DerError(f"validity: bad time {text!r}") from e
    return parsed.replace(tzinfo=datetime.UTC)


@dataclass(frozen=True, slots=True)
class CertificateFields:
    serial: int
    not_before: datetime.datetime
    not_after: datetime.datetime
    spki_der: bytes  # SubjectPublicKeyInfo, as encoded in the certificate
    uris: tuple[str, ...]  # URI subjectAltNames


def read_certificate(der: bytes) -> CertificateFields:
    """The fields the sidecar checks; :class:`DerError` when ``der`` is not an X.509 certificate."""
    tag, cert, end = _read(der, 0)
    if tag != SEQUENCE or end != len(der):
        raise DerError("a certificate is one SEQUENCE")
    parts = children(cert)
    if len(parts) != 3:
        raise DerError("a certificate has tbsCertificate, signatureAlgorithm and signature")
    tbs = children(_expect(parts[0], SEQUENCE, "tbsCertificate"))
    if tbs and tbs[0][0] == 0xA0:  # [0] EXPLICIT version
        tbs = tbs[1:]
    if len(tbs) < 6:
        raise DerError("tbsCertificate is too short")
    serial = int.from_bytes(_expect(tbs[0], INTEGER, "serialNumber"), "big", signed=True)
    validity = children(_expect(tbs[3], SEQUENCE, "validity"))
    if len(validity) != 2:
        raise DerError("validity has notBefore and notAfter")
    not_before, not_after = (_time(t, c) for t, c, _ in validity)
    _expect(tbs[5], SEQUENCE, "subjectPublicKeyInfo")
    uris: list[str] = []
    for element in tbs[6:]:
        if element[0] != 0xA3:  # [3] EXPLICIT extensions
            continue
        inner = children(element[1])
        if not inner:
            raise DerError("empty extensions")
        for ext in children(_expect(inner[0], SEQUENCE, "extensions")):
            fields = children(_expect(ext, SEQUENCE, "extension"))
            if not fields or decode_oid(_expect(fields[0], OID, "extnID")) != OID_SUBJECT_ALT_NAME:
                continue
            names = children(_expect(fields[-1], OCTET_STRING, "extnValue"))
            for name_tag, name, _ in children(_expect(names[0], SEQUENCE, "GeneralNames")) if names else []:
                if name_tag == URI_NAME:
                    uris.append(name.decode("ascii", errors="replace"))
    return CertificateFields(serial, not_before, not_after, tbs[5][2], tuple(uris))
