"""Protocol detection from byte prefixes (``proxy.sniff.detect``), including partial prefixes."""

from __future__ import annotations

import pytest

from proxy.sniff import H2_PREFACE, MAX_METHOD, Detected, detect

CLIENT_HELLO = bytes.fromhex("160301020001000200030376")  # record header + start of a ClientHello


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", Detected.HTTP1),
        (b"GET ", Detected.HTTP1),
        (b"POST /orders HTTP/1.1\r\n", Detected.HTTP1),
        (b"M-SEARCH * HTTP/1.1\r\n", Detected.HTTP1),
        (b"PRI * HTTP/1.1\r\n", Detected.HTTP1),  # leaves the preface at byte 10
        (H2_PREFACE, Detected.HTTP2),
        (H2_PREFACE + b"\x00\x00\x12\x04", Detected.HTTP2),
        (CLIENT_HELLO, Detected.TLS),
        (b"\x16\x03\x03", Detected.TLS),
        (b"\x16\x03\x00", Detected.TLS),
        (b"\x16\x03\x05", Detected.OPAQUE),
        (b"\x16\x02", Detected.OPAQUE),
        (b"\x00\x01\x02", Detected.OPAQUE),
        (b" GET /", Detected.OPAQUE),  # empty method
        (b"GET\t/", Detected.OPAQUE),
        (b"SSH-2.0-OpenSSH_9.6\r\n", Detected.OPAQUE),  # no space within the first 24 bytes
        (b"hello\n", Detected.OPAQUE),
        (b"*1\r\n$4\r\nPING\r\n", Detected.OPAQUE),  # RESP
        (b"A" * (MAX_METHOD + 1), Detected.OPAQUE),
    ],
)
def test_decides_from_a_complete_enough_prefix(prefix: bytes, expected: Detected) -> None:
    assert detect(prefix) is expected


@pytest.mark.parametrize(
    "prefix",
    [
        b"",
        b"G",
        b"GET",
        b"\x16",
        b"\x16\x03",
        b"P",
        b"PRI",
        b"PRI ",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r",
        b"A" * MAX_METHOD,
    ],
)
def test_needs_more_bytes_while_undecided(prefix: bytes) -> None:
    assert detect(prefix) is None


@pytest.mark.parametrize("whole", [b"GET /x HTTP/1.1\r\n\r\n", H2_PREFACE + b"\0\0\0", CLIENT_HELLO, b"\x00binary"])
def test_a_decision_never_changes_with_more_bytes(whole: bytes) -> None:
    final = detect(whole)
    decided = False
    for n in range(len(whole) + 1):
        got = detect(whole[:n])
        if got is not None:
            decided = True
            assert got is final, f"prefix of {n} bytes decided {got}, the whole says {final}"
        else:
            assert not decided, f"decided, then undecided again at {n} bytes"
    assert decided
