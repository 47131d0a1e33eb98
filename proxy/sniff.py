"""Protocol detection from the first bytes of a connection (pure: no I/O).

Shared by the outbound capture listener (``proxy.capture``) and the HTTP/2 engine::

    detect(prefix) -> Detected | None      # None: not decided yet, read more bytes

Rules, decided as soon as the bytes allow (and never undone by more bytes):

* **HTTP/2 prior knowledge**: the 24-byte client preface ``PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n``.
  It starts like an HTTP/1 request line (``PRI`` is a token), so while the bytes are a
  prefix of the preface nothing is decided.
* **HTTP/1.x**: a request line starts with a method (an RFC 9110 token, 1 to
  ``MAX_METHOD`` characters) followed by one space.
* **TLS**: a handshake record header ``0x16 0x03 0x00..0x04`` (SSL 3.0 to TLS 1.3 record
  versions; TLS 1.3 ClientHellos carry ``0x03 0x01``).
* Anything else is **opaque** (a byte that no rule above allows at its position decides it).

A caller that reads a bounded number of bytes and still gets None, or none within the
detection timeout (a client that waits for the server to speak first, as SMTP or MySQL
do), treats the connection as opaque.  ``DETECT_TIMEOUT`` is the proxy's default
(``--detect-timeout``; docs/proxy.md, "Detection", says why 1 s).
"""

from __future__ import annotations

import enum
from typing import Final

__all__ = ["DETECT_TIMEOUT", "H2_PREFACE", "MAX_METHOD", "SNIFF_BYTES", "Detected", "detect"]


class Detected(enum.Enum):
    HTTP1 = "http/1"
    HTTP2 = "h2c-prior-knowledge"
    TLS = "tls"
    OPAQUE = "opaque"


H2_PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_METHOD: Final = 24  # the longest registered method (UPDATEREDIRECTREF) has 17 characters
SNIFF_BYTES: Final = len(H2_PREFACE)  # enough for every decision above
DETECT_TIMEOUT: Final = 1.0  # seconds a listener waits for the first bytes (then: server-speaks-first, opaque)

_TCHAR: Final = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_TLS_HANDSHAKE: Final = 0x16


def _tls(prefix: bytes) -> Detected | None:
    if len(prefix) >= 2 and prefix[1] != 0x03:
        return Detected.OPAQUE
    if len(prefix) >= 3:
        return Detected.TLS if prefix[2] <= 0x04 else Detected.OPAQUE
    return None


def _http1(prefix: bytes) -> Detected | None:
    for i, byte in enumerate(prefix[: MAX_METHOD + 1]):
        if byte == 0x20:  # SP ends the method
            return Detected.HTTP1 if i > 0 else Detected.OPAQUE
        if byte not in _TCHAR:
            return Detected.OPAQUE
    return Detected.OPAQUE if len(prefix) > MAX_METHOD else None


def detect(prefix: bytes) -> Detected | None:
    """What protocol a connection speaks, from its first bytes; None while undecided."""
    if not prefix:
        return None
    if prefix[0] == _TLS_HANDSHAKE:
        return _tls(prefix)
    head = prefix[: len(H2_PREFACE)]
    if H2_PREFACE.startswith(head):
        return Detected.HTTP2 if len(head) == len(H2_PREFACE) else None
    return _http1(prefix)
