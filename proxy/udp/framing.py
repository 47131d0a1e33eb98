"""Datagrams over a byte stream (sans-IO): each datagram is a 2-byte big-endian length, then its bytes.

Sidecars carry UDP between them inside the same mTLS connection as TCP (one TLS stream per
UDP session, opened with the PROXY v2 header that names the target port), so a datagram
keeps the caller's verified identity and is encrypted.  TLS is a byte stream; the length
prefix restores the datagram boundaries.  A zero-length datagram is a valid frame.

``encode(datagram)`` -> frame bytes; ``Decoder(limit).feed(bytes)`` -> the complete datagrams
so far (any split of the stream gives the same datagrams).  A frame announcing more than
``limit`` bytes is a protocol error (``FramingError``): the stream must be closed, since the
boundaries after it cannot be trusted.
"""

from __future__ import annotations

from typing import Final

MAX_FRAME: Final = 0xFFFF  # what 2 length bytes can say; a UDP/IPv4 payload is at most 65507
HEADER: Final = 2


class FramingError(ValueError):
    pass


def encode(datagram: bytes, *, limit: int = MAX_FRAME) -> bytes:
    if len(datagram) > limit:
        raise FramingError(f"datagram of {len(datagram)} bytes is over the limit of {limit}")
    return len(datagram).to_bytes(HEADER, "big") + datagram


class Decoder:
    """Splits a stream into datagrams; keeps at most one partial frame (``limit`` + 2 bytes)."""

    def __init__(self, *, limit: int = MAX_FRAME) -> None:
        if not 0 <= limit <= MAX_FRAME:
            raise ValueError(f"limit: must be 0..{MAX_FRAME}, got {limit}")
        self.limit = limit
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        out: list[bytes] = []
        at = 0
        buffer = self._buffer
        while len(buffer) - at >= HEADER:
            size = (buffer[at] << 8) | buffer[at + 1]
            if size > self.limit:
                raise FramingError(f"frame of {size} bytes is over the limit of {self.limit}")
            if len(buffer) - at - HEADER < size:
                break
            out.append(bytes(buffer[at + HEADER : at + HEADER + size]))
            at += HEADER + size
        del buffer[:at]
        return out

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held."""
        return len(self._buffer)
