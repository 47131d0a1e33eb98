"""HTTP/1.1 clients whose calls go upstream as HTTP/2 streams (protocol conversion, HTTP/1.1 -> HTTP/2).

``Http1Front`` is the downstream protocol of an HTTP/1.1 connection when its requests must
travel as HTTP/2: on an inbound ``http2`` port (an HTTP/1.1 caller reaching an app that
speaks HTTP/2), and on the outbound listener with ``ProxySettings.h1_over_h2`` (HTTP/1.1
requests ride the multiplexed mTLS HTTP/2 connection to the peer sidecar, as Linkerd
does).  Each request is a :class:`~proxy.http2.calls.Call`, exactly as an HTTP/2 stream
is: same routing, authorization, metrics, deadlines and back-pressure.

The front plays the part of the HTTP/2 server connection for the call (``conn`` is the
front itself): the response head is written as an HTTP/1.1 head (chunked unless it has a
``Content-Length``; ``Connection: close`` when the client asked for it), trailers become
chunked trailers when the client sent ``TE: trailers`` (dropped otherwise: RFC 9110 section
6.5.1; a gRPC client through an HTTP/1.1 hop asks for them), and a chunked request's trailers
become the call's HTTP/2 trailers.  Requests are served one at a time in order; a pipelined request waits
(the socket is paused while one is in flight).  ``Upgrade`` and ``CONNECT`` are not
converted (400 / 405): such clients use the HTTP/1.1 engine.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import httptools

from proxy.admission import ConnectionGate
from proxy.headers import split_target
from proxy.http2 import grpc
from proxy.http2.accounting import count_local_reply, count_malformed
from proxy.http2.calls import Call, Upstreams
from proxy.http2.messages import (
    ORIG_PROTO,
    Message,
    from_http1_request,
    to_http1_response_head,
    trailers_as_http1,
    trailers_from_http1,
)
from proxy.targets import LocalReply, Router

logger = logging.getLogger(__name__)

_NO_BODY = frozenset({204, 304})


@dataclass(slots=True)
class _Request:
    sid: int
    message: Message | None = None
    keep_alive: bool = True
    body: list[bytes] = field(default_factory=list)
    ended: bool = False
    bad: str = ""
    te_trailers: bool = False  # the client sent TE: trailers (it reads a response's trailers)
    head_fields: int = 0  # header lines of the head; lines after them are the body's trailers
    trailers: list[tuple[bytes, bytes]] = field(default_factory=list)  # a chunked request body's (HTTP/2 fields)


class Http1Front(asyncio.Protocol):
    """See the module docstring."""

    def __init__(self, *, router: Router, upstreams: Upstreams, app_h2: Callable[[], bool], peer: str = "",
                 on_close: Callable[[Http1Front], None] | None = None,
                 on_call_done: Callable[[], None] | None = None,
                 gate: ConnectionGate | None = None) -> None:  # fmt: skip
        self.gate = gate  # the listener's connection cap and draining
        self.on_close = on_close
        self.on_call_done = on_call_done
        self.router = router
        self.upstreams = upstreams
        self.app_h2 = app_h2
        self.peer = peer
        self.loop = asyncio.get_event_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.calls: dict[int, Call] = {}
        self.queue: collections.deque[_Request] = collections.deque()  # parsed, not yet started
        self.current: _Request | None = None  # being parsed
        self.active: _Request | None = None  # its call is in flight
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._next_sid = 1
        self._unacked = 0
        self._write_paused = False
        self._chunked = False
        self._closing = False
        self._draining = False

    # ------------------------------------------------------------------ downstream socket
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if self.gate is not None:
            self.gate.opened(self)
        if not self.peer:
            peer = transport.get_extra_info("peername")
            self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._bad("upgrade is not converted to HTTP/2")
        except httptools.HttpParserError as e:
            self._bad(str(e) or "malformed request")
        except Exception:
            logger.exception("connection from %s: error while converting a request", self.peer)
            self.router.fallback_stats().error("proxy_error")
            self._abort()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        call = self.calls.get(self.active.sid) if self.active is not None else None
        if call is not None:
            call.down_writable()

    def drain(self) -> None:
        """The listener drains: close now when idle, else after the response in flight."""
        if self.active is None and self.current is None:
            self._close()
            return
        self._draining = True
        for req in (self.active, self.current, *self.queue):
            if req is not None:
                req.keep_alive = False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.gate is not None:
            self.gate.closed(self)
        calls, self.calls = self.calls, {}
        for call in calls.values():
            call.abort("downstream_closed")
        if self.on_close is not None:
            self.on_close(self)

    # ------------------------------------------------------------------ parser callbacks
    def on_message_begin(self) -> None:
        self.current = _Request(self._next_sid)
        self._next_sid += 2
        self._url, self._headers = b"", []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        req = self.current
        if req is None:
            return
        method = self.parser.get_method()
        keep = self.parser.should_keep_alive() and self.parser.get_http_version() != "1.0"
        req.keep_alive = keep and not self._draining
        authority, target = split_target(self._url)
        req.head_fields = len(self._headers)
        req.te_trailers = any(n.lower() == b"te" and b"trailers" in v.lower() for n, v in self._headers)
        if method == b"CONNECT":
            req.bad = "CONNECT is not supported"
        req.message = from_http1_request(method, target, self._headers, authority=authority)
        self.queue.append(req)
        if self.active is None:
            self._next()
        elif self.transport is not None:
            self.transport.pause_reading()  # pipelined: wait for the one in flight

    def on_body(self, body: bytes) -> None:
        req = self.current
        if req is None:
            return
        if req is self.active:
            call = self.calls.get(req.sid)
            if call is not None:
                self._unacked += len(body)
                call.down_body(body, len(body))
                if self._unacked > 0 and self.transport is not None:
                    self.transport.pause_reading()
        else:
            req.body.append(body)

    def on_message_complete(self) -> None:
        req, self.current = self.current, None
        if req is None:
            return
        req.ended = True
        if len(self._headers) > req.head_fields:  # a chunked body's trailers: the call's HTTP/2 trailers
            req.trailers = trailers_from_http1(self._headers[req.head_fields :])
        if req is self.active:
            call = self.calls.get(req.sid)
            if call is not None:
                if req.trailers:
                    call.down_trailers(req.trailers)
                call.down_end()

    # ------------------------------------------------------------------ starting calls
    def _next(self) -> None:
        while self.active is None and self.queue:
            req = self.queue.popleft()
            self.active = req
            self._chunked = False
            assert req.message is not None
            if req.bad:
                self.reply_local(req.sid, 405, req.bad, grpc_call=False)
                self._done(req)
                continue
            self._start(req, req.message)

    def _start(self, req: _Request, message: Message) -> None:
        is_grpc = grpc.is_grpc(message.header(b"content-type"))
        head = message.request_head()
        if head is None:
            count_malformed(self.router)
            req.keep_alive = False
            self.reply_local(req.sid, 400, "malformed request: ambiguous path", grpc_call=False)
            self._done(req)
            return
        decision = self.router.decide(head, message.authority or None)
        if isinstance(decision, LocalReply):
            extra = count_local_reply(decision, message, now=self.loop.time())
            self.reply_local(req.sid, decision.status, decision.text, grpc_call=False, extra=extra)
            if not req.ended:
                req.keep_alive = False  # the rest of the body is not read
            self._done(req)
            return
        if decision.announce_port:  # to a peer sidecar: say the caller spoke HTTP/1.1 (a detect port follows it)
            message.headers.append((ORIG_PROTO, b"HTTP/1.1"))
        call = Call(self, req.sid, message, decision, grpc_call=is_grpc, app_h2=self.app_h2())
        self.calls[req.sid] = call
        body, req.body = req.body, []
        call.start(ended=req.ended and not body, head=head)
        for piece in body:
            call.down_body(piece, 0)
        if req.ended and body:
            if req.trailers:
                call.down_trailers(req.trailers)
            call.down_end()
        if self.transport is not None and not self._closing:
            self.transport.resume_reading()

    def _done(self, req: _Request) -> None:
        if self.active is req:
            self.active = None
        if not req.keep_alive or not req.ended:
            self._close()
            return
        if self.transport is not None and not self._closing:
            self.transport.resume_reading()
        self.loop.call_soon(self._next)

    # ------------------------------------------------------------------ what the Call calls ("server" and "conn")
    @property
    def conn(self) -> Http1Front:
        return self  # the Call talks to ``server.conn``: here that is this object

    def send_head(self, sid: int, message: Message, *, end: bool = False) -> None:
        req = self.active
        close = req is None or not req.keep_alive or not req.ended
        no_body = message.status in _NO_BODY or (req is not None and req.message is not None
                                                 and req.message.method == b"HEAD")  # fmt: skip
        self._chunked = not end and not no_body and message.header(b"content-length") is None
        headers = message
        if end and not no_body and message.header(b"content-length") is None:
            headers = Message([*message.headers, (b"content-length", b"0")], status=message.status)
        self._write(to_http1_response_head(headers, chunked=self._chunked, close=close))

    def send_body(self, sid: int, data: bytes, *, end: bool = False) -> bool:
        if data:
            self._write(b"%x\r\n%b\r\n" % (len(data), data) if self._chunked else data)
        if end and self._chunked:
            self._write(b"0\r\n\r\n")
        return not self._write_paused

    def send_trailers(self, sid: int, trailers: list[tuple[bytes, bytes]]) -> None:
        if self._chunked:
            req = self.active
            self._write(trailers_as_http1(trailers) if req is not None and req.te_trailers else b"0\r\n\r\n")

    def end_stream(self, sid: int) -> None:
        self.send_body(sid, b"", end=True)

    def consumed(self, sid: int, size: int) -> None:
        self._unacked -= size
        if self._unacked <= 0 and self.transport is not None and not self._closing:
            self.transport.resume_reading()

    def reply_local(self, sid: int, status: int, text: str, *, grpc_call: bool,
                    extra: list[tuple[bytes, bytes]] | None = None) -> None:  # fmt: skip
        body = (text + "\n").encode("utf-8", "replace")
        fields = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"%d" % len(body)),
                  *(extra or [])]  # fmt: skip
        req = self.active
        close = req is None or not req.keep_alive or not req.ended
        self._write(to_http1_response_head(Message(fields, status=status), chunked=False, close=close) + body)

    def flush(self) -> None:
        pass  # writes go out at once

    def finished(self, call: Call) -> None:
        self.calls.pop(call.sid, None)
        if self.on_call_done is not None:
            self.on_call_done()
        req = self.active
        if req is not None and req.sid == call.sid:
            self._done(req)

    def cancel_stream(self, sid: int) -> None:
        self._abort()  # HTTP/1.1 cannot reset one response: the connection goes

    # ------------------------------------------------------------------ helpers
    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _bad(self, why: str) -> None:
        count_malformed(self.router)
        if self.active is None:
            self._write(to_http1_response_head(Message([(b"content-length", b"0")], status=400), chunked=False,
                                               close=True))  # fmt: skip
        self._close()

    def _close(self) -> None:
        self._closing = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _abort(self) -> None:
        self._closing = True
        if self.transport is not None:
            self.transport.abort()


__all__ = ["Http1Front"]
