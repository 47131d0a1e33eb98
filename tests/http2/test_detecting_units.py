"""``Detecting``: which protocol an HTTP port's connection is handed to, from its first bytes (fake transport)."""

from __future__ import annotations

import asyncio
from typing import Any

from proxy.http2.listeners import Detecting

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.protocol: Any = None
        self.written = b""
        self.closing = False

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class Recorder(asyncio.Protocol):
    def __init__(self, name: str) -> None:
        self.name = name
        self.received = b""
        self.upgrade: Any = None

    def data_received(self, data: bytes) -> None:
        self.received += data


HANDED_OVER = "handed over"


def detecting(timeout: float = 10.0, *, detect_port: bool = False) -> tuple[Detecting, FakeTransport, dict[str, Any]]:
    made: dict[str, Any] = {HANDED_OVER: asyncio.Event()}

    def make(name: str) -> Recorder:
        made[name] = Recorder(name)
        made[HANDED_OVER].set()
        return made[name]

    opaque = (lambda: make("opaque")) if detect_port else None
    d = Detecting(http1=lambda: make("http1"), http2=lambda: make("http2"), timeout=timeout, opaque=opaque)  # type: ignore[arg-type,return-value]
    transport = FakeTransport()
    d.connection_made(transport)
    return d, transport, made


async def test_the_http2_preface_goes_to_http2_even_in_pieces() -> None:
    d, transport, made = detecting()
    d.data_received(PREFACE[:10])
    assert "http2" not in made
    d.data_received(PREFACE[10:] + b"frames")
    assert set(made) == {HANDED_OVER, "http2"} and transport.protocol is made["http2"]
    assert made["http2"].received == PREFACE + b"frames"


async def test_an_http1_request_goes_to_http1_at_once() -> None:
    d, _, made = detecting()
    d.data_received(b"GET / HTTP/1.1\r\nHost: web\r\n\r\n")
    assert set(made) == {HANDED_OVER, "http1"} and made["http1"].received.startswith(b"GET / ")


async def test_an_h2c_upgrade_is_switched_and_becomes_stream_one() -> None:
    d, transport, made = detecting()
    d.data_received(b"GET /up HTTP/1.1\r\nHost: web\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n")
    assert not made[HANDED_OVER].is_set()  # the head is not complete yet
    d.data_received(b"HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n")
    assert transport.written.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    settings, request = made["http2"].upgrade
    assert settings == b"AAMAAABkAAQAoAAAAAIAAAAA" and (request.method, request.path, request.authority) == (
        b"GET", b"/up", b"web")  # fmt: skip


async def test_a_silent_client_goes_to_http1_after_the_detection_timeout() -> None:
    _, transport, made = detecting(timeout=0.01)
    await asyncio.wait_for(made[HANDED_OVER].wait(), 5)
    assert transport.protocol is made["http1"]


# A detect port (no declared protocol): everything that is no HTTP is opaque TCP.


async def test_on_a_detect_port_http_still_goes_to_the_http_engines() -> None:
    d, _, made = detecting(detect_port=True)
    d.data_received(b"POST /x HTTP/1.1\r\n")
    assert set(made) == {HANDED_OVER, "http1"}
    d, _, made = detecting(detect_port=True)
    d.data_received(PREFACE)
    assert set(made) == {HANDED_OVER, "http2"}


async def test_on_a_detect_port_a_tls_client_hello_and_other_bytes_are_opaque_with_every_byte_kept() -> None:
    hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"
    for first in (hello, b"\x00\x01binary", b"*1\r\n$4\r\nPING\r\n"):
        d, transport, made = detecting(detect_port=True)
        d.data_received(first[:1])
        (transport.protocol or d).data_received(first[1:])  # the socket's protocol gets what comes next
        assert set(made) == {HANDED_OVER, "opaque"}, first
        assert transport.protocol is made["opaque"] and made["opaque"].received == first


async def test_on_a_detect_port_a_silent_client_is_opaque_after_the_timeout() -> None:
    _, transport, made = detecting(timeout=0.01, detect_port=True)
    await asyncio.wait_for(made[HANDED_OVER].wait(), 5)  # server speaks first: the banner may now flow
    assert transport.protocol is made["opaque"] and "http1" not in made
