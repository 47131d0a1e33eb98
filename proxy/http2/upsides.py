"""The upstream half of a call: an HTTP/2 stream, or an HTTP/1.1 connection to an app (conversion).

``Upstreams`` holds what calls go out on: the multiplexed HTTP/2 connections
(``client.H2Upstreams``) and idle keep-alive HTTP/1.1 connections to apps, per pool key.
``H1Side`` writes the call's request as HTTP/1.1 (``Host`` from ``:authority``, the body
chunked unless it has a ``Content-Length``, trailers as chunked trailers; the app's chunked
trailers come back as the call's HTTP/2 trailers) and reports the
response back to the call; after a complete response on a connection both sides keep
alive it goes back to the idle list.  A reused connection the app closed before any
response byte is retried once on a new one for a call without a body (``Call.up_reset``).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol, cast

import httptools

from proxy.http2.client import H2Client, H2Upstreams
from proxy.http2.messages import (
    Message,
    from_http1_response,
    to_http1_request,
    trailers_as_http1,
    trailers_from_http1,
)
from proxy.targets import PoolKey

if TYPE_CHECKING:
    from proxy.upstream import UpstreamPool


class H1Owner(Protocol):
    """The call an ``H1Side`` reports to (``proxy.http2.calls.Call``)."""

    def up_response(self, message: Message, ended: bool) -> None: ...
    def up_body(self, data: bytes, flow: int) -> None: ...
    def up_end(self) -> None: ...
    def up_trailers(self, trailers: list[tuple[bytes, bytes]]) -> None: ...
    def up_reset(self, code: int, *, reused: bool = False) -> None: ...
    def up_writable(self) -> None: ...
    def fail(self, status: int, text: str, reason: str) -> None: ...


class UpSide(Protocol):
    def send_body(self, data: bytes, *, end: bool = False) -> bool: ...
    def send_trailers(self, trailers: list[tuple[bytes, bytes]]) -> None: ...
    def consumed(self, size: int) -> None: ...
    def cancel(self) -> None: ...



class Upstreams:
    """Where calls go: multiplexed HTTP/2 connections, and keep-alive HTTP/1.1 connections to apps."""

    MAX_IDLE_PER_KEY = 64

    def __init__(self, pool: UpstreamPool) -> None:
        self.pool = pool
        self.h2 = H2Upstreams(pool)
        self.h1_idle: dict[PoolKey, list[H1Side]] = {}

    def h1_acquire(self, key: PoolKey) -> H1Side | None:
        idle = self.h1_idle.get(key)
        while idle:
            side = idle.pop()
            if side.transport is not None and not side.transport.is_closing():
                return side
        return None

    def h1_release(self, side: H1Side) -> None:
        idle = self.h1_idle.setdefault(side.key, [])
        if len(idle) >= self.MAX_IDLE_PER_KEY or side.transport is None or side.transport.is_closing():
            side.cancel()
            return
        side.transport.resume_reading()
        idle.append(side)

    def h1_forget(self, side: H1Side) -> None:
        idle = self.h1_idle.get(side.key)
        if idle and side in idle:
            idle.remove(side)


class H2Side:
    __slots__ = ("client", "sid")

    def __init__(self, client: H2Client, sid: int) -> None:
        self.client, self.sid = client, sid

    def send_body(self, data: bytes, *, end: bool = False) -> bool:
        return self.client.send_body(self.sid, data, end=end)

    def send_trailers(self, trailers: list[tuple[bytes, bytes]]) -> None:
        self.client.send_trailers(self.sid, trailers)

    def consumed(self, size: int) -> None:
        self.client.consumed(self.sid, size)

    def cancel(self) -> None:
        self.client.cancel(self.sid)


class H1Side(asyncio.Protocol):
    """An HTTP/1.1 connection to an app, carrying one call at a time (kept alive between calls)."""

    def __init__(self, call: H1Owner, upstreams: Upstreams, key: PoolKey) -> None:
        self.call: H1Owner | None = call
        self.upstreams = upstreams
        self.key = key
        self.served = 0  # responses completed: a reused connection may be closed by the app under us
        self.request_done = False
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunked = False
        self.unacked = 0
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def begin(self, message: Message, *, ended: bool) -> None:
        self.request_done = ended
        self.chunked = not ended and message.header(b"content-length") is None
        assert self.transport is not None
        self.transport.write(to_http1_request(message, chunked=self.chunked))

    def send_body(self, data: bytes, *, end: bool = False) -> bool:
        if self.transport is None or self.transport.is_closing():
            return True
        if data:
            self.transport.write(b"%x\r\n%b\r\n" % (len(data), data) if self.chunked else data)
        if end:
            self.request_done = True
            if self.chunked:
                self.transport.write(b"0\r\n\r\n")
        return not self.paused

    def send_trailers(self, trailers: list[tuple[bytes, bytes]]) -> None:
        self.request_done = True
        if self.transport is not None and self.chunked:
            self.transport.write(trailers_as_http1(trailers))

    def consumed(self, size: int) -> None:
        self.unacked -= size
        if self.unacked <= 0 and self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def cancel(self) -> None:
        self.call = None
        if self.transport is not None:
            self.transport.abort()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.call is not None:
            self.call.up_writable()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as e:
            call, self.call = self.call, None
            if self.transport is not None:
                self.transport.abort()
            if call is not None:
                call.fail(502, f"upstream sent a malformed response: {e}", "bad_response")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        headers, self.headers = self.headers, []
        if 100 <= status < 200:
            return
        if self.call is not None:
            self.call.up_response(from_http1_response(status, headers), False)

    def on_body(self, body: bytes) -> None:
        if self.call is not None:
            self.unacked += len(body)
            self.call.up_body(body, len(body))
            if self.unacked > 0 and self.transport is not None:
                self.transport.pause_reading()

    def on_message_complete(self) -> None:
        if self.parser.get_status_code() < 200:
            return
        self.served += 1
        call, self.call = self.call, None
        trailers, self.headers = self.headers, []  # after the head: a chunked body's trailers
        if self.parser.should_keep_alive() and self.request_done and self.unacked <= 0:
            self.upstreams.h1_release(self)
        elif self.transport is not None:
            self.transport.close()
        if call is not None:
            if trailers:
                call.up_trailers(trailers_from_http1(trailers))
            else:
                call.up_end()

    def connection_lost(self, exc: Exception | None) -> None:
        self.upstreams.h1_forget(self)
        call, self.call = self.call, None
        if call is not None:
            call.up_reset(0, reused=self.served > 0)




__all__ = ["H1Side", "H2Side", "UpSide", "Upstreams"]
