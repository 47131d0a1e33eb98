"""PROXY protocol version 2 (binary): the header a meshed caller sends first.

The outbound sidecar opens every mesh connection with this header so the inbound sidecar
learns which application port is meant (the destination port) and who is calling (the
source address, mapped to an identity before mTLS).  Only the ``PROXY`` command over TCP
on IPv4/IPv6 is produced; ``LOCAL`` is accepted on input (it carries no addresses).

After the addresses, one TLV of the custom range (``TLV_WORKLOAD``, type 0xE0) carries the
caller's own workload as its compile named it, ``<namespace>/<workload>`` in UTF-8: the
inbound sidecar labels its series with it when the caller's verified identity backs it
(``proxy.inbound``).  Other TLVs are skipped; a TLV area that does not parse is ignored
(the addresses still count), so a header from an older or foreign sender never breaks a
connection.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import Final

SIGNATURE: Final = b"\r\n\r\n\x00\r\nQUIT\n"
_VERSION_PROXY: Final = 0x21  # version 2, command PROXY
_VERSION_LOCAL: Final = 0x20  # version 2, command LOCAL
_TCP4: Final = 0x11
_TCP6: Final = 0x21
_HEAD: Final = struct.Struct("!12sBBH")
_ADDR4: Final = struct.Struct("!4s4sHH")
_ADDR6: Final = struct.Struct("!16s16sHH")
_TLV: Final = struct.Struct("!BH")
MAX_HEADER: Final = 16 + 65535
TLV_WORKLOAD: Final = 0xE0  # PP2_TYPE_MIN_CUSTOM: "<namespace>/<workload>" of the calling sidecar's node
MAX_WORKLOAD_CLAIM: Final = 512


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """What a PROXY v2 header says; addresses are empty for the LOCAL command."""

    src_address: str
    src_port: int
    dst_address: str
    dst_port: int
    local: bool = False
    workload: str = ""  # the TLV_WORKLOAD claim, "" when absent or not UTF-8


class ProxyHeaderError(ValueError):
    """The bytes are not a valid PROXY v2 header."""


def encode(*, src_address: str, src_port: int, dst_address: str, dst_port: int, workload: str = "") -> bytes:
    """Build a v2 PROXY/TCP header; ``workload`` (``ns/name``, optional) goes in a ``TLV_WORKLOAD``."""
    src = ipaddress.ip_address(src_address)
    dst = ipaddress.ip_address(dst_address)
    if src.version != dst.version:
        # Mixed families cannot be expressed; map the IPv4 one into IPv6.
        src = src if src.version == 6 else ipaddress.IPv6Address(f"::ffff:{src}")
        dst = dst if dst.version == 6 else ipaddress.IPv6Address(f"::ffff:{dst}")
    tlv = b""
    if workload:
        value = workload.encode()[:MAX_WORKLOAD_CLAIM]
        tlv = _TLV.pack(TLV_WORKLOAD, len(value)) + value
    if src.version == 4:
        body = _ADDR4.pack(src.packed, dst.packed, src_port, dst_port) + tlv
        return _HEAD.pack(SIGNATURE, _VERSION_PROXY, _TCP4, len(body)) + body
    body = _ADDR6.pack(src.packed, dst.packed, src_port, dst_port) + tlv
    return _HEAD.pack(SIGNATURE, _VERSION_PROXY, _TCP6, len(body)) + body


def _workload_claim(tlvs: bytes) -> str:
    """The ``TLV_WORKLOAD`` value among ``tlvs`` ("" when absent, not UTF-8, or the area is malformed)."""
    at = 0
    while at + _TLV.size <= len(tlvs):
        kind, length = _TLV.unpack_from(tlvs, at)
        at += _TLV.size
        if at + length > len(tlvs):
            return ""
        if kind == TLV_WORKLOAD:
            try:
                return tlvs[at : at + length].decode()
            except UnicodeDecodeError:
                return ""
        at += length
    return ""


def starts_like_header(data: bytes) -> bool | None:
    """True/False once decidable; None when ``data`` is a too-short prefix of the signature."""
    n = min(len(data), len(SIGNATURE))
    if data[:n] != SIGNATURE[:n]:
        return False
    return True if n == len(SIGNATURE) else None


def decode(data: bytes) -> tuple[ProxyHeader, int] | None:
    """Parse a header at the start of ``data``: (header, bytes consumed), or None if incomplete."""
    if len(data) < _HEAD.size:
        if starts_like_header(data) is False:
            raise ProxyHeaderError("not a PROXY protocol v2 header")
        return None
    signature, version, family, length = _HEAD.unpack_from(data)
    if signature != SIGNATURE:
        raise ProxyHeaderError("not a PROXY protocol v2 header")
    total = _HEAD.size + length
    if len(data) < total:
        return None
    if version == _VERSION_LOCAL:
        return ProxyHeader("", 0, "", 0, local=True), total
    if version != _VERSION_PROXY:
        raise ProxyHeaderError(f"unsupported PROXY version/command byte 0x{version:02x}")
    if family == _TCP4 and length >= _ADDR4.size:
        s, d, sp, dp = _ADDR4.unpack_from(data, _HEAD.size)
        claim = _workload_claim(data[_HEAD.size + _ADDR4.size : total])
        return ProxyHeader(str(ipaddress.IPv4Address(s)), sp, str(ipaddress.IPv4Address(d)), dp, workload=claim), total
    if family == _TCP6 and length >= _ADDR6.size:
        s, d, sp, dp = _ADDR6.unpack_from(data, _HEAD.size)
        src, dst = ipaddress.IPv6Address(s), ipaddress.IPv6Address(d)
        src_s = str(src.ipv4_mapped or src)
        dst_s = str(dst.ipv4_mapped or dst)
        claim = _workload_claim(data[_HEAD.size + _ADDR6.size : total])
        return ProxyHeader(src_s, sp, dst_s, dp, workload=claim), total
    raise ProxyHeaderError(f"unsupported PROXY address family 0x{family:02x} (length {length})")


# The caller's protocol decision, in a TLV of the custom range (PP2_TYPE_MIN_CUSTOM is 0xE0).
TLV_OPAQUE: Final = 0xE1
_OPAQUE_VALUE: Final = b"opaque"
_TLV_HEAD: Final = struct.Struct("!BH")
_OPAQUE_TLV: Final = _TLV_HEAD.pack(TLV_OPAQUE, len(_OPAQUE_VALUE)) + _OPAQUE_VALUE


def mark_opaque(header: bytes) -> bytes:
    """``header`` (from ``encode``) with the TLV that says "the caller's sidecar detected opaque TCP".

    On a ``detect`` port the inbound sidecar then does not wait for first bytes again (a
    server-speaks-first protocol pays the detection timeout once, not twice).  It can only
    make authorization stricter (opaque bytes are checked against TCPRoute rules alone), so a
    caller gains nothing by sending it.
    """
    length = int.from_bytes(header[14:16], "big") + len(_OPAQUE_TLV)
    return header[:14] + length.to_bytes(2, "big") + header[16:] + _OPAQUE_TLV


def says_opaque(header: bytes) -> bool:
    """Whether a whole PROXY/TCP header (the bytes ``decode`` consumed) carries the opaque TLV.

    Other TLVs are skipped; a TLV area that does not parse says nothing (False).
    """
    if len(header) < _HEAD.size:
        return False
    family = header[13]
    at = _HEAD.size + (_ADDR4.size if family == _TCP4 else _ADDR6.size if family == _TCP6 else len(header))
    while at + _TLV_HEAD.size <= len(header):
        kind, length = _TLV_HEAD.unpack_from(header, at)
        at += _TLV_HEAD.size
        if at + length > len(header):
            return False
        if kind == TLV_OPAQUE and header[at : at + length] == _OPAQUE_VALUE:
            return True
        at += length
    return False
