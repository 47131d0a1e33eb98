"""The name a captured connection asks for, from its first bytes (pure): HTTP ``Host`` or TLS SNI.

Used only to check egress rules that list ``hosts``; nothing is changed on the wire.

* ``http_host(prefix)``: the ``Host`` header of the first request head (port removed), or
  None while the head is incomplete or has none.
* ``tls_server_name(prefix)``: the ``server_name`` extension (RFC 6066, host_name type) of a
  ClientHello carried in the first TLS record, or None when absent or not yet complete.
* ``name_complete(prefix)``: whether more bytes could still reveal a name.
"""

from __future__ import annotations

from typing import Final

from proxy.sniff import Detected

MAX_NAME_BYTES: Final = 16384  # a request head or a ClientHello record larger than this names nothing

_SNI: Final = 0
_CLIENT_HELLO: Final = 1


def http_host(prefix: bytes) -> str | None:
    end = prefix.find(b"\r\n\r\n")
    if end < 0:
        return None
    for line in prefix[:end].split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() == b"host":
            host = value.strip().decode("latin-1")
            if host.startswith("["):  # IPv6 literal
                return host[1 : host.find("]")] if "]" in host else None
            return host.rsplit(":", 1)[0] if ":" in host else host
    return None


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise IndexError
        chunk = self.data[self.at : self.at + n]
        self.at += n
        return chunk

    def number(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def vector(self, length_bytes: int) -> bytes:
        return self.take(self.number(length_bytes))


def _record(prefix: bytes) -> bytes | None:
    """The first TLS record's body, once complete."""
    if len(prefix) < 5:
        return None
    length = int.from_bytes(prefix[3:5], "big")
    return prefix[5 : 5 + length] if len(prefix) >= 5 + length else None


def tls_server_name(prefix: bytes) -> str | None:
    body = _record(prefix)
    if body is None:
        return None
    try:
        hello = _Reader(body)
        if hello.number(1) != _CLIENT_HELLO:
            return None
        hello = _Reader(hello.vector(3))
        hello.take(2 + 32)  # legacy version, random
        hello.vector(1)  # session id
        hello.vector(2)  # cipher suites
        hello.vector(1)  # compression methods
        extensions = _Reader(hello.vector(2))
        while extensions.at < len(extensions.data):
            kind, data = extensions.number(2), extensions.vector(2)
            if kind != _SNI:
                continue
            names = _Reader(_Reader(data).vector(2))
            while names.at < len(names.data):
                name_type, name = names.number(1), names.vector(2)
                if name_type == 0:
                    return name.decode("ascii", "replace").lower().rstrip(".")
    except IndexError:  # a ClientHello split over several records, or garbage: no name
        return None
    return None


def requested_name(detected: Detected, prefix: bytes) -> str | None:
    if detected is Detected.HTTP1:
        return http_host(prefix)
    if detected is Detected.TLS:
        return tls_server_name(prefix)
    return None


def name_complete(detected: Detected, prefix: bytes) -> bool:
    """True when no more bytes can change ``requested_name`` (found, impossible, or past the limit)."""
    if len(prefix) >= MAX_NAME_BYTES or detected not in (Detected.HTTP1, Detected.TLS):
        return True
    if detected is Detected.HTTP1:
        return b"\r\n\r\n" in prefix
    return _record(prefix) is not None
