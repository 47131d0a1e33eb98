"""The downstream HTTP/2 listener side: each stream is a call routed like an HTTP/1.1 request.

``Http2Server`` is the ``asyncio.Protocol`` of one HTTP/2 connection from an app (h2c,
outbound) or from a peer sidecar (inside mTLS, inbound).  Each request stream becomes a
:class:`~proxy.http2.calls.Call`: its head is mapped to the neutral ``RequestHead``
(``messages``) and handed to the same ``Router`` the HTTP/1.1 engine uses (outbound:
routing, TrafficSplit, load balancing, deny-by-default; inbound: TrafficTarget
authorization), so a 403, 404 or 503 means the same for both.  The call then goes
upstream as HTTP/2 (to a peer sidecar, or to an app that speaks it) or HTTP/1.1 (to an
app that does not: protocol conversion).

``goaway()`` (config change, shutdown) sends a graceful GOAWAY: the streams in flight
finish, new ones go to a new connection; the socket closes when the last one is done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import cast

from proxy.admission import ConnectionGate
from proxy.http2 import grpc
from proxy.http2.accounting import count_local_reply, count_malformed
from proxy.http2.calls import Call, Upstreams
from proxy.http2.connection import CANCEL, Http2Connection, Http2ProtocolError, Role
from proxy.http2.events import Body, Ended, Event, GoAway, RequestStarted, StreamReset, Trailers, Writable
from proxy.http2.messages import ORIG_PROTO, Message
from proxy.targets import LocalReply, Router

logger = logging.getLogger(__name__)


class Http2Server(asyncio.Protocol):
    """One downstream HTTP/2 connection (server role); see the module docstring."""

    def __init__(
        self,
        *,
        router: Router,
        upstreams: Upstreams,
        app_h2: Callable[[], bool] = lambda: True,
        peer: str = "",
        on_close: Callable[[Http2Server], None] | None = None,
        on_call_done: Callable[[], None] | None = None,
        gate: ConnectionGate | None = None,
        follow_caller: bool = False,
    ) -> None:
        self.on_call_done = on_call_done
        self._h1_caller = False  # the call being started was an HTTP/1.1 caller's (ORIG_PROTO)
        if follow_caller:  # a detect port: the app is called in the protocol the calling app spoke
            app_h2 = self._caller_spoke_h2
        self.gate = gate  # the listener's connection cap and draining (``drain`` = graceful GOAWAY)
        self.router = router
        self.upstreams = upstreams
        self.app_h2 = app_h2
        self.peer = peer
        self.on_close = on_close
        self.conn = Http2Connection(Role.SERVER)
        self.loop = asyncio.get_event_loop()
        self.transport: asyncio.Transport | None = None
        self.calls: dict[int, Call] = {}
        self._flush_pending = False
        self.upgrade: tuple[bytes, Message] | None = None  # (HTTP2-Settings, request) of an h2c upgrade

    def _caller_spoke_h2(self) -> bool:
        return not self._h1_caller

    # ------------------------------------------------------------------ transport events
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if self.gate is not None:
            self.gate.opened(self)
        if not self.peer:
            peer = transport.get_extra_info("peername")
            self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        if self.upgrade is not None:
            settings, request = self.upgrade
            self.upgrade = None
            events = self.conn.start_upgraded(settings, request)
        else:
            self.conn.start()
            events = []
        self._handle(events)

    def data_received(self, data: bytes) -> None:
        try:
            events = self.conn.receive(data)
        except Http2ProtocolError as e:
            logger.info("HTTP/2 connection from %s: protocol error: %s", self.peer, e)
            self.router.fallback_stats().error("bad_request")
            self._write_out()
            self._abort_calls()
            if self.transport is not None:
                self.transport.close()
            return
        self._handle(events)

    def _handle(self, events: list[Event]) -> None:
        try:
            for ev in events:
                self._dispatch(ev)
        except Exception:
            logger.exception("HTTP/2 connection from %s: error while handling a stream", self.peer)
            self.router.fallback_stats().error("proxy_error")
            self._abort_calls()
            if self.transport is not None:
                self.transport.abort()
            return
        self.flush()
        self._maybe_close()

    def _dispatch(self, ev: Event) -> None:
        if isinstance(ev, RequestStarted):
            self._start(ev.stream_id, ev.message, ended=ev.ended)
            return
        if isinstance(ev, GoAway):
            return
        call = self.calls.get(ev.stream_id)
        if call is None:
            if isinstance(ev, Body):
                self.conn.consumed(ev.stream_id, ev.flow_length)  # a stream answered locally: drop its body
            return
        if isinstance(ev, Body):
            call.down_body(ev.data, ev.flow_length)
        elif isinstance(ev, Trailers):
            call.down_trailers(ev.headers)
        elif isinstance(ev, Ended):
            call.down_end()
        elif isinstance(ev, StreamReset):
            call.down_reset()
        elif isinstance(ev, Writable):
            call.down_writable()

    def _start(self, sid: int, message: Message, *, ended: bool) -> None:
        self._h1_caller = message.take_header(ORIG_PROTO) is not None  # never passed on to an app
        head = message.request_head()
        is_grpc = grpc.is_grpc(message.header(b"content-type"))
        if head is None:
            count_malformed(self.router)
            self.reply_local(sid, 400, "malformed request: ambiguous path", grpc_call=is_grpc)
            return
        decision = self.router.decide(head, message.authority or None)
        if isinstance(decision, LocalReply):
            extra = count_local_reply(decision, message, now=self.loop.time())
            self.reply_local(sid, decision.status, decision.text, grpc_call=is_grpc, extra=extra)
            return
        call = Call(self, sid, message, decision, grpc_call=is_grpc, app_h2=self.app_h2())
        self.calls[sid] = call
        call.start(ended=ended, head=head)

    # ------------------------------------------------------------------ replies and writes
    def reply_local(self, sid: int, status: int, text: str, *, grpc_call: bool,
                    extra: list[tuple[bytes, bytes]] | None = None) -> None:  # fmt: skip
        """A response the proxy makes itself (gRPC-shaped for a gRPC call)."""
        if grpc_call:
            headers = grpc.local_reply_headers(status, text)
            self.conn.send_head(sid, Message([*headers[1:], *(extra or [])], status=200), end=True)
        else:
            body = (text + "\n").encode("utf-8", "replace")
            fields = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"%d" % len(body))]
            self.conn.send_head(sid, Message(fields + (extra or []), status=status))
            self.conn.send_body(sid, body, end=True)
        self.flush()

    def flush(self) -> None:
        """Write what the connection has queued: once per loop iteration (frames of many streams, one write)."""
        if not self._flush_pending:
            self._flush_pending = True
            self.loop.call_soon(self._write_out)

    def _write_out(self) -> None:
        self._flush_pending = False
        out = self.conn.outgoing()
        if out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(out)

    def finished(self, call: Call) -> None:
        self.calls.pop(call.sid, None)
        self._maybe_close()
        if self.on_call_done is not None:
            self.on_call_done()

    # ------------------------------------------------------------------ shutdown
    def goaway(self) -> None:
        """Graceful: no new streams, the ones in flight finish, then the connection closes."""
        self.conn.goaway()
        self.flush()
        self._maybe_close()

    def _maybe_close(self) -> None:
        if self.conn.going_away and not self.calls and self.transport is not None and not self.transport.is_closing():
            self._write_out()
            self.transport.close()

    def _abort_calls(self) -> None:
        calls, self.calls = self.calls, {}
        for call in calls.values():
            call.abort("downstream_closed")

    def drain(self) -> None:
        """The listener drains (SIGTERM): GOAWAY, the calls in flight finish, then the connection closes."""
        self.goaway()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.gate is not None:
            self.gate.closed(self)
        self._abort_calls()
        if self.on_close is not None:
            self.on_close(self)

    def cancel_stream(self, sid: int) -> None:
        self.conn.reset(sid, CANCEL)
        self.flush()


__all__ = ["Http2Server"]
