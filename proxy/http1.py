"""The HTTP/1.1 forwarding engine: one ``HttpForwarder`` per downstream connection.

Design (the hot path of the mesh):

* ``asyncio.Protocol`` + ``httptools.HttpRequestParser``: bytes are parsed as they arrive
  and body bytes are written upstream at once (re-framed when chunked), never collected.
* Each parsed request becomes an ``Exchange`` in a FIFO.  Only the head of the FIFO talks
  to an upstream; pipelined requests wait (their few buffered bytes bounded by pausing the
  client) so responses go back in order.
* Flow control both ways: when one side's write buffer passes its high-water mark
  (``pause_writing``) the other side stops reading until ``resume_writing``.  Reasons for
  pausing the client are bits in ``_paused``, so they never cancel each other out.
* The ``Router`` decides per request (outbound: routing + split + LB; inbound:
  authorization); it returns a ``Target`` or a ``LocalReply`` (403/404/503...).
* Upstream connections come from the keep-alive pool and go back only after a complete
  response on a connection both sides keep alive.  A request without a body that meets a
  reused connection closed by the server before any response byte is retried once.
* Upgrade (WebSocket): after a 101 both sockets are spliced as raw TCP.
* Few system calls and allocations per request (this is the hot path): the pieces of a
  response (head, body chunks, end) read from one upstream read are joined into one write
  to the client (``_emit``; flushed at the end of the response or right after that read);
  the response-head timeout is a deadline on the exchange checked by one lazy timer per
  connection, not a timer per request.
* Errors: 400 for a malformed request or an ambiguous target (``headers.normalize_target``:
  the path the rules see is the path the upstream gets), 431 for a head over
  ``HttpLimits.max_head_bytes``/``max_headers``, 408 for a head not complete within
  ``HttpLimits.head_timeout`` (``proxy.limits``; one timer per connection), 503 when the
  upstream is unreachable, 504 on connect or response-head timeout, each counted.  Every
  callback is guarded so an exception closes this one connection and nothing else.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Final, cast

import httptools

from proxy.headers import (
    CleanHead,
    RequestHead,
    clean_headers,
    is_plain_target,
    normalize_target,
    path_of,
    split_target,
)
from proxy.limits import DEFAULT_LIMITS, HttpLimits
from proxy.metrics import EdgeStats
from proxy.targets import LocalReply, Router, Target
from proxy.upstream import UpstreamConnection, UpstreamPool

logger = logging.getLogger(__name__)

_PAUSE_UPSTREAM_FULL: Final = 1
_PAUSE_PIPELINE: Final = 2
_PAUSE_WAIT: Final = 4
_PAUSE_UPGRADE: Final = 8
_MAX_PENDING: Final = 256 * 1024
_COALESCE_LIMIT: Final = 16 * 1024  # smaller response pieces are joined into one write

_REASONS: Final = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_NO_BODY_STATUS: Final = frozenset({204, 304})


def local_response(status: int, text: str, *, close: bool, headers: bytes = b"") -> bytes:
    """A response the proxy writes itself; ``headers``: extra header lines, each ending in CRLF."""
    body = (text + "\n").encode("utf-8", "replace")
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        f"content-type: text/plain; charset=utf-8\r\ncontent-length: {len(body)}\r\n"
        f"{'connection: close' + chr(13) + chr(10) if close else ''}"
    )
    return head.encode("latin-1") + headers + b"\r\n" + body


class Exchange:
    """One request and its response on a downstream connection."""

    __slots__ = (
        "activated",
        "clean",
        "close_after",
        "deadline",
        "fed_back",
        "framing",
        "head_bytes",
        "head_done",
        "is_head",
        "keep_alive",
        "method",
        "pending",
        "pending_size",
        "raw_headers",
        "req_bytes",
        "request_done",
        "resp_bytes",
        "resp_chunked",
        "response_done",
        "response_started",
        "retried",
        "started",
        "stats",
        "status",
        "target",
        "upgrade",
        "upstream",
        "url",
        "version",
    )

    def __init__(self) -> None:
        self.url = b""
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.method = b""
        self.version = "1.1"
        self.keep_alive = True
        self.clean: CleanHead | None = None
        self.framing = 0  # 0: no body, 1: content-length, 2: chunked
        self.head_done = False
        self.request_done = False
        self.activated = False
        self.head_bytes = b""
        self.pending: list[bytes] = []
        self.pending_size = 0
        self.target: Target | None = None
        self.upstream: UpstreamConnection | None = None
        self.stats: EdgeStats | None = None
        self.response_started = False
        self.response_done = False
        self.resp_chunked = False
        self.close_after = False
        self.is_head = False
        self.upgrade = False
        self.retried = False
        self.status = 0
        self.req_bytes = 0
        self.resp_bytes = 0
        self.started = 0.0
        self.deadline = 0.0  # loop time by which the response head is due; 0: no deadline running
        self.fed_back = False  # the picker has been told how this request went


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head over the limits."""


class HttpForwarder(asyncio.Protocol):
    """Downstream HTTP/1.1 connection: parse, route, forward, relay; see the module docstring."""

    def __init__(
        self, *, router: Router, pool: UpstreamPool, peer: str = "", limits: HttpLimits = DEFAULT_LIMITS
    ) -> None:
        self.router = router
        self.pool = pool
        self.peer = peer
        self.limits = limits
        self._max_headers = limits.max_headers
        self._max_head = limits.max_head_bytes
        self._head_read = 0  # bytes received (in earlier reads) for the head being parsed
        self._head_timer: asyncio.TimerHandle | None = None
        self._slow: Exchange | None = None  # the exchange whose head was incomplete at the last check
        self._too_large = False
        self.loop = asyncio.get_event_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.queue: collections.deque[Exchange] = collections.deque()
        self.current: Exchange | None = None
        self._paused = 0
        self._write_paused = False
        self._advancing = False
        self._again = False
        self._broken: tuple[int, str, str] | None = None  # (status, text, reason): a bad request follows the queue
        self._dead = False  # no more HTTP parsing (upgrade or error)
        self._upgrade_buffer: list[bytes] = []
        self.tunnel: UpstreamConnection | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None  # the one deadline timer of this connection
        self._timer_at = 0.0
        self._out: list[bytes] = []  # response bytes not yet written to the client
        self._flush_handle: asyncio.Handle | None = None

    # ------------------------------------------------------------------ downstream events
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if not self.peer:
            peer = transport.get_extra_info("peername")
            self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self._head_timer = self.loop.call_later(self.limits.head_timeout, self._check_head)

    def data_received(self, data: bytes) -> None:
        if self.tunnel is not None:
            self.tunnel.write(data)
            return
        if self._dead:
            self._upgrade_buffer.append(data)
            return
        before = self.current
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as e:
            self._on_upgrade_request(data[int(e.args[0]) :])
        except httptools.HttpParserCallbackError:
            if self._too_large:
                why = f"request head over {self._max_head} bytes or {self._max_headers} header fields"
                self._on_malformed(why, status=431)
                return
            logger.exception("connection from %s: error while handling a request", self.peer)
            self._fail_connection("proxy_error")
            return
        except httptools.HttpParserError as e:
            self._on_malformed(str(e) or "malformed request")
            return
        except Exception:
            logger.exception("connection from %s: error while handling a request", self.peer)
            self._fail_connection("proxy_error")
            return
        cur = self.current
        if cur is not None and not cur.head_done:
            # a head spanning reads: count it (what arrived in its first read is not, a bounded overshoot)
            self._head_read = self._head_read + len(data) if cur is before else 0
            if self._head_read > self._max_head:
                self._on_malformed(f"request head over {self._max_head} bytes", status=431)
                return
        if len(self.queue) > 1:
            self._pause(_PAUSE_PIPELINE)

    def eof_received(self) -> bool:
        # Half-close from the client: finish what is in flight, then close.
        if not self.queue or self.tunnel is not None or not self.queue[-1].request_done:
            return False
        self.queue[-1].close_after = True
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._dead = True
        self._out = []
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._connecting is not None:
            self._connecting.cancel()
        if self.tunnel is not None:
            self.tunnel.close()
            self.tunnel = None
        for ex in self.queue:
            if ex.upstream is not None:
                ex.upstream.abort()
                ex.upstream = None
            if ex.activated and not ex.response_done and ex.stats is not None:
                ex.stats.error("downstream_closed")
        self.queue.clear()

    def pause_writing(self) -> None:
        self._write_paused = True
        up = self.tunnel or (self.queue[0].upstream if self.queue else None)
        if up is not None:
            up.pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        up = self.tunnel or (self.queue[0].upstream if self.queue else None)
        if up is not None:
            up.resume_reading()

    # ------------------------------------------------------------------ request parser callbacks
    def on_message_begin(self) -> None:
        ex = Exchange()
        self.current = ex
        self.queue.append(ex)

    def on_url(self, url: bytes) -> None:
        ex = self.current
        if ex is not None:
            ex.url += url
            if len(ex.url) > self._max_head:
                self._too_large = True
                raise _HeadTooLarge

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.current is not None:
            self.current.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        ex = self.current
        if ex is None:
            return
        parser = self.parser
        ex.method = parser.get_method()
        ex.version = parser.get_http_version()
        ex.keep_alive = parser.should_keep_alive() and ex.version != "1.0"
        ex.close_after = not ex.keep_alive
        ex.upgrade = parser.should_upgrade()
        ex.is_head = ex.method == b"HEAD"
        if len(ex.raw_headers) > self._max_headers:
            self._too_large = True
            raise _HeadTooLarge
        clean = ex.clean = clean_headers(ex.raw_headers)
        if clean.chunked:
            ex.framing = 2
        elif clean.content_length is not None and clean.content_length != b"0":
            ex.framing = 1
        ex.head_done = True
        if self.queue and self.queue[0] is ex:
            self._advance()

    def on_body(self, body: bytes) -> None:
        ex = self.current
        if ex is None:
            return
        ex.req_bytes += len(body)
        if ex.framing == 2:
            body = b"%x\r\n%b\r\n" % (len(body), body)
        if ex.upstream is not None:
            ex.upstream.write(body)
        elif ex.response_done or (ex.activated and ex.target is None):
            return  # answered locally: the body is read and dropped
        else:
            ex.pending.append(body)
            ex.pending_size += len(body)
            if ex.pending_size > _MAX_PENDING:
                self._pause(_PAUSE_WAIT)

    def on_message_complete(self) -> None:
        ex = self.current
        if ex is None:
            return
        self.current = None
        ex.request_done = True
        if ex.framing == 2:
            if ex.upstream is not None:
                ex.upstream.write(b"0\r\n\r\n")
            elif not ex.response_done:
                ex.pending.append(b"0\r\n\r\n")
        if ex.upstream is not None:
            self._arm_timer(ex)
        if ex.response_done:
            self._advance()

    # ------------------------------------------------------------------ driving the FIFO
    def _advance(self) -> None:
        """Finish completed exchanges and start the next one; never re-entered."""
        if self._advancing:
            self._again = True
            return
        self._advancing = True
        try:
            while True:
                self._again = False
                self._advance_once()
                if not self._again:
                    break
        except Exception:
            logger.exception("connection from %s: error while forwarding", self.peer)
            self._fail_connection("proxy_error")
        finally:
            self._advancing = False

    def _advance_once(self) -> None:
        queue = self.queue
        while queue:
            ex = queue[0]
            if ex.request_done and ex.response_done:
                queue.popleft()
                self._finish(ex)
                if ex.close_after or self.transport is None or self.transport.is_closing():
                    self._close()
                    return
                continue
            if not ex.activated and ex.head_done:
                self._activate(ex)
                continue
            break
        if self._paused and len(queue) <= 1:
            self._unpause(_PAUSE_PIPELINE)
        if not queue and self._broken is not None:
            self._reply_broken()

    def _activate(self, ex: Exchange) -> None:
        ex.activated = True
        ex.started = self.loop.time()
        clean = ex.clean
        assert clean is not None
        url = ex.url
        if url[:1] == b"/":
            authority, origin = clean.host, url  # origin-form, the common case
        else:
            authority, origin = split_target(url)
            if authority is None:
                authority = clean.host
        if not is_plain_target(origin):
            normal = normalize_target(origin) if origin[:1] == b"/" else None
            if normal is None:
                text = "ambiguous request target: a fragment, a backslash, an encoded slash or a bad %-escape"
                self._reply_local(ex, LocalReply(400, text, self.router.fallback_stats(), error="bad_request"))
                return
            origin = normal
        head = RequestHead(ex.method.decode("latin-1"), path_of(origin), clean.headers)
        if ex.method == b"CONNECT":
            decision: Target | LocalReply = LocalReply(
                405, "CONNECT is not supported by this proxy", self.router.fallback_stats(), error="bad_request"
            )
        else:
            try:
                decision = self.router.decide(head, authority)
            except Exception:
                logger.exception("connection from %s: routing failed", self.peer)
                decision = LocalReply(500, "proxy error while routing", self.router.fallback_stats(), "proxy_error")
        if isinstance(decision, LocalReply):
            self._reply_local(ex, decision)
            return
        ex.target = decision
        ex.stats = decision.stats
        decision.stats.requests += 1
        ex.head_bytes = self._request_head(ex, clean, origin, authority)
        if ex.upgrade:
            ex.close_after = True  # after a refused upgrade the client's bytes are not HTTP
        conn = self.pool.acquire(decision.key)
        if conn is not None:
            self._bind(ex, conn)
        else:
            self._connecting = self.loop.create_task(self._connect(ex, decision))

    @staticmethod
    def _request_head(ex: Exchange, clean: CleanHead, origin: bytes, authority: bytes | None) -> bytes:
        parts = [ex.method, b" ", origin, b" HTTP/1.1\r\n"]
        absolute = origin is not ex.url and authority is not None and clean.host != authority
        for name, value in clean.headers:
            if absolute and name.lower() == b"host":
                continue
            parts += (name, b": ", value, b"\r\n")
        if (absolute or clean.host is None) and authority is not None:
            parts += (b"host: ", authority, b"\r\n")
        if ex.framing == 2:
            parts.append(b"transfer-encoding: chunked\r\n")
        if ex.upgrade and clean.upgrade is not None:
            parts += (b"connection: upgrade\r\nupgrade: ", clean.upgrade, b"\r\n")
        parts.append(b"\r\n")
        return b"".join(parts)

    async def _connect(self, ex: Exchange, target: Target) -> None:
        try:
            conn = await asyncio.wait_for(self.pool.connect(target), target.connect_timeout)
        except TimeoutError:
            where = f"{target.address}:{target.port}"
            self._upstream_failed(ex, 504, f"upstream connect timeout: {where}", "connect_timeout")
            self._advance()
            return
        except OSError as e:
            why = f"upstream unreachable: {target.address}:{target.port}: {e.strerror or type(e).__name__}"
            self._upstream_failed(ex, 503, why, "connect_failed")
            self._advance()
            return
        finally:
            self._connecting = None
        if self.transport is None or self.transport.is_closing() or not self.queue or self.queue[0] is not ex:
            conn.keep_alive = True
            self.pool.release(conn)
            return
        try:
            self._bind(ex, conn)
        except Exception:
            logger.exception("connection from %s: error while forwarding", self.peer)
            self._fail_connection("proxy_error")

    def _upstream_failed(self, ex: Exchange, status: int, text: str, reason: str) -> None:
        target = ex.target
        if target is not None and target.feedback is not None and target.endpoint is not None and not ex.fed_back:
            ex.fed_back = True
            target.feedback.done(target.endpoint, seconds=self.loop.time() - ex.started, ok=False)
        if self.transport is None or self.transport.is_closing() or not self.queue or self.queue[0] is not ex:
            return
        if ex.response_started:
            self._fail_connection(reason)
            return
        stats = ex.stats or self.router.fallback_stats()
        stats.requests -= 1  # _reply_local counts it again
        self._reply_local(ex, LocalReply(status, text, stats, error=reason))

    def _bind(self, ex: Exchange, conn: UpstreamConnection) -> None:
        ex.upstream = conn
        conn.owner = self
        conn.close_delimited = False
        conn.informational = False
        if ex.pending:
            conn.write(ex.head_bytes + b"".join(ex.pending))
            ex.pending = []
            ex.pending_size = 0
        else:
            conn.write(ex.head_bytes)
        if self._paused:
            self._unpause(_PAUSE_WAIT)
        if self._write_paused:
            conn.pause_reading()
        if ex.request_done:
            self._arm_timer(ex)

    def _arm_timer(self, ex: Exchange) -> None:
        """The response-head timeout runs from the end of the request to the response head.

        No timer per request: the exchange records its deadline and the connection keeps one
        lazy timer.  When it fires it looks at the head of the queue (the only exchange bound
        to an upstream): past its deadline -> timeout; otherwise it is set again for that
        deadline.  A finished request only clears its deadline, so a busy keep-alive
        connection costs one timer event per timeout period instead of a timer per request.
        """
        if ex.target is None or ex.deadline or ex.response_started:
            return
        deadline = ex.deadline = self.loop.time() + ex.target.request_timeout
        timer = self._timer
        if timer is not None:
            if self._timer_at <= deadline:
                return
            timer.cancel()
        self._timer_at = deadline
        self._timer = self.loop.call_at(deadline, self._check_deadline)

    def _check_deadline(self) -> None:
        self._timer = None
        ex = self.queue[0] if self.queue else None
        if ex is None or not ex.deadline or ex.response_started:
            return
        if self.loop.time() >= ex.deadline - 0.001:  # timers may fire up to a millisecond early
            try:
                self._on_timeout(ex)
            except Exception:
                logger.exception("connection from %s: error while timing out a request", self.peer)
                self._fail_connection("proxy_error")
            return
        self._timer_at = ex.deadline
        self._timer = self.loop.call_at(ex.deadline, self._check_deadline)

    def _on_timeout(self, ex: Exchange) -> None:
        ex.deadline = 0.0
        if ex.response_started or ex.response_done:
            return
        if ex.upstream is not None:
            ex.upstream.abort()
            ex.upstream = None
        target = ex.target
        where = f"{target.address}:{target.port}" if target else "?"
        self._upstream_failed(ex, 504, f"upstream timeout: no response from {where}", "timeout")
        self._advance()

    def _reply_local(self, ex: Exchange, reply: LocalReply) -> None:
        ex.deadline = 0.0
        ex.target = None
        ex.stats = reply.stats
        ex.pending = []
        ex.pending_size = 0
        if self._paused:
            self._unpause(_PAUSE_WAIT)
        stats = reply.stats
        stats.requests += 1
        if reply.error:
            stats.error(reply.error)
        if reply.denied:
            stats.denied += 1
        clean = ex.clean
        if not ex.request_done and ((clean is not None and clean.expect_continue) or ex.upgrade):
            ex.close_after = True
        if ex.upgrade:
            ex.close_after = True
        if self.transport is not None and not self.transport.is_closing():
            self._write(local_response(reply.status, reply.text, close=ex.close_after, headers=reply.headers))
        ex.response_started = ex.response_done = True
        ex.status = reply.status
        stats.response(reply.status, self.loop.time() - ex.started)

    def _finish(self, ex: Exchange) -> None:
        ex.deadline = 0.0
        conn = ex.upstream
        ex.upstream = None
        target = ex.target
        if conn is not None:
            if ex.upgrade or ex.is_head:
                conn.close()
            else:
                self.pool.release(conn)
        if target is not None:
            seconds = self.loop.time() - ex.started
            stats = target.stats
            stats.request_bytes += ex.req_bytes
            stats.response_bytes += ex.resp_bytes
            stats.response(ex.status, seconds)
            if target.feedback is not None and target.endpoint is not None and not ex.fed_back:
                ex.fed_back = True
                target.feedback.done(target.endpoint, seconds=seconds, ok=ex.status < 500)

    # ------------------------------------------------------------------ upstream events (called by UpstreamConnection)
    def response_head(self, conn: UpstreamConnection) -> None:
        ex = self.queue[0] if self.queue else None
        if ex is None or ex.upstream is not conn:
            return
        status = conn.parser.get_status_code()
        clean = clean_headers(conn.headers)
        reason = conn.reason or b"-"
        if 100 <= status < 200 and status != 101:
            conn.informational = True
            self._write(self._head_bytes(status, reason, clean, b""))
            return
        ex.deadline = 0.0
        ex.response_started = True
        ex.status = status
        if status == 101:
            extra = b"connection: upgrade\r\nupgrade: " + (clean.upgrade or b"") + b"\r\n"
            self._write(self._head_bytes(status, reason, clean, extra))
            return
        extra = b""
        if ex.is_head or status in _NO_BODY_STATUS or (clean.content_length is not None and not clean.chunked):
            pass
        elif ex.version == "1.0":
            conn.close_delimited = not clean.chunked  # a 1.0 client reads the body until we close
        else:
            # chunked upstream or delimited by close: re-frame as chunked for the client
            conn.close_delimited = not clean.chunked
            ex.resp_chunked = True
            extra = b"transfer-encoding: chunked\r\n"
        if ex.close_after:
            extra += b"connection: close\r\n"
        # Held back until the end of this upstream read: a small response goes out in one write.
        self._emit(self._head_bytes(status, reason, clean, extra))
        if ex.is_head:
            # httptools does not know the request was HEAD: the response ends with its head
            self._response_done(ex)

    @staticmethod
    def _head_bytes(status: int, reason: bytes, clean: CleanHead, extra: bytes) -> bytes:
        parts = [b"HTTP/1.1 %d %b\r\n" % (status, reason)]
        for name, value in clean.headers:
            parts += (name, b": ", value, b"\r\n")
        parts += (extra, b"\r\n")
        return b"".join(parts)

    # ------------------------------------------------------------------ writing to the client
    def _emit(self, data: bytes) -> None:
        """Queue response bytes; they are written when the response ends or after this upstream read."""
        self._out.append(data)
        if self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self._flush_soon)

    def _flush_soon(self) -> None:
        self._flush_handle = None
        self._flush()

    def _flush(self) -> None:
        out = self._out
        if out:
            self._out = []
            if self.transport is not None:
                self.transport.write(out[0] if len(out) == 1 else b"".join(out))

    def _write(self, data: bytes) -> None:
        """Write now, after anything queued (keeps the byte order)."""
        if self._out:
            self._out.append(data)
            self._flush()
        elif self.transport is not None:
            self.transport.write(data)

    def response_body(self, body: bytes) -> None:
        ex = self.queue[0] if self.queue else None
        if ex is None or ex.response_done or self.transport is None:
            return
        size = len(body)
        ex.resp_bytes += size
        if ex.resp_chunked:
            body = b"%x\r\n%b\r\n" % (size, body)
        if size < _COALESCE_LIMIT:
            self._emit(body)
        else:
            self._write(body)

    def response_complete(self, conn: UpstreamConnection) -> None:
        ex = self.queue[0] if self.queue else None
        if ex is None or ex.upstream is not conn or ex.response_done:
            return
        if ex.status == 101:
            return  # the parser raises HttpParserUpgrade next: the connection becomes a tunnel
        self._response_done(ex)

    def _response_done(self, ex: Exchange) -> None:
        if ex.resp_chunked:
            self._out.append(b"0\r\n\r\n")
        self._flush()
        ex.response_done = True
        if not ex.request_done and ex.upstream is not None:
            # The upstream answered before the whole request arrived: do not reuse it.
            ex.upstream.keep_alive = False
        self._advance()

    def upstream_upgraded(self, conn: UpstreamConnection, rest: bytes) -> None:
        ex = self.queue[0] if self.queue else None
        if ex is None or ex.upstream is not conn or not ex.upgrade or ex.status != 101:
            conn.abort()
            self._fail_connection("bad_response")
            return
        conn.tunnel = True
        self.tunnel = conn
        self._dead = True
        self._flush()
        if self.transport is not None and rest:
            self.transport.write(rest)
        if self._upgrade_buffer:
            conn.write(b"".join(self._upgrade_buffer))
            self._upgrade_buffer = []
        self._unpause(_PAUSE_UPGRADE | _PAUSE_PIPELINE | _PAUSE_WAIT)
        if ex.stats is not None:
            ex.stats.response(101, self.loop.time() - ex.started)
        ex.deadline = 0.0
        self.queue.clear()

    def tunnel_from_upstream(self, data: bytes) -> None:
        self._write(data)

    def upstream_broken(self, conn: UpstreamConnection, reason: str) -> None:
        ex = self.queue[0] if self.queue else None
        conn.abort()
        if ex is None or ex.upstream is not conn:
            return
        ex.upstream = None
        self._upstream_failed(ex, 502, "upstream sent a malformed response", reason)
        self._advance()

    def upstream_lost(self, conn: UpstreamConnection) -> None:
        if self.tunnel is conn:
            self.tunnel = None
            self._close()
            return
        ex = self.queue[0] if self.queue else None
        if ex is None or ex.upstream is not conn:
            return
        ex.upstream = None
        conn.owner = None
        if ex.response_started and conn.close_delimited and not ex.response_done:
            self._response_done(ex)
            return
        if not ex.response_started:
            target = ex.target
            if conn.served and ex.framing == 0 and not ex.retried and target is not None and ex.request_done:
                # A kept-alive connection closed by the server just as we reused it: retry once.
                ex.retried = True
                ex.deadline = 0.0
                self._connecting = self.loop.create_task(self._connect(ex, target))
                return
            self._upstream_failed(ex, 503, "upstream connection closed before a response", "upstream_reset")
            self._advance()
            return
        if ex.stats is not None:
            ex.stats.error("upstream_reset")
        self._fail_connection("")

    def upstream_write_paused(self) -> None:
        self._pause(_PAUSE_UPSTREAM_FULL)

    def upstream_write_resumed(self) -> None:
        self._unpause(_PAUSE_UPSTREAM_FULL)

    # ------------------------------------------------------------------ errors, upgrade, pausing
    def _on_upgrade_request(self, rest: bytes) -> None:
        self._dead = True
        if rest:
            self._upgrade_buffer.append(rest)
        self._pause(_PAUSE_UPGRADE)
        ex = self.queue[-1] if self.queue else None
        if ex is not None and not ex.request_done:
            ex.request_done = True
        self._advance()

    def _check_head(self) -> None:
        """The slowloris guard (``HttpLimits.head_timeout``): a head incomplete at two checks in a row -> 408."""
        self._head_timer = None
        if self._dead or self.transport is None or self.transport.is_closing():
            return
        try:
            cur = self.current
            if cur is not None and not cur.head_done:
                if cur is self._slow:
                    self._on_malformed(
                        f"request head not complete within {self.limits.head_timeout:g} s",
                        status=408, reason="header_timeout",
                    )  # fmt: skip
                    return
                self._slow = cur
            else:
                self._slow = None
            self._head_timer = self.loop.call_later(self.limits.head_timeout, self._check_head)
        except Exception:
            logger.exception("connection from %s: error while checking the request head", self.peer)
            self._fail_connection("proxy_error")

    def _on_malformed(self, why: str, *, status: int = 400, reason: str = "bad_request") -> None:
        self._dead = True
        self._pause(_PAUSE_UPGRADE)
        cur = self.current
        self.current = None
        if cur is not None and cur.activated:
            # Broken in the middle of a forwarded body: the upstream cannot be reused.
            if cur.upstream is not None:
                cur.upstream.abort()
                cur.upstream = None
            if cur.response_started:
                (cur.stats or self.router.fallback_stats()).error("bad_request")
                self._close()
                return
            self.queue.remove(cur)
        elif cur is not None and cur in self.queue:
            self.queue.remove(cur)
        self._broken = (status, why if status != 400 else f"malformed request: {why}", reason)
        self._advance()

    def _reply_broken(self) -> None:
        status, text, reason = self._broken or (400, "malformed request", "bad_request")
        self._broken = None
        stats = self.router.fallback_stats()
        stats.requests += 1
        stats.error(reason)
        stats.response(status, 0.0)
        if self.transport is not None and not self.transport.is_closing():
            self._write(local_response(status, text, close=True))
        self._close()

    def _fail_connection(self, reason: str) -> None:
        if reason:
            stats = self.queue[0].stats if self.queue and self.queue[0].stats else self.router.fallback_stats()
            stats.error(reason)
        for ex in self.queue:
            if ex.upstream is not None:
                ex.upstream.abort()
                ex.upstream = None
        self.queue.clear()
        if self.transport is not None:
            self.transport.abort()

    def _close(self) -> None:
        self._dead = True
        self._flush()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _pause(self, bit: int) -> None:
        if not self._paused and self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()
        self._paused |= bit

    def _unpause(self, bit: int) -> None:
        if not self._paused & bit:
            return
        self._paused &= ~bit
        if not self._paused and self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()
