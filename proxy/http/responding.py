"""The response side of the HTTP/1.1 core: what an upstream sends back, relayed to the client.

``Responding`` sits between ``relaying.Relay`` (route, attempt, finish, errors) and
``connection.HttpConnection`` (the client side): the upstream's codec calls its
``response_head`` / ``response_body`` / ``response_complete`` (the ``ResponseSink`` of
``proxy.http.upstreams``), and the shell's upstream events land in ``_upstream_data``,
``_upstream_closed`` and ``_upstream_writable``.  Sans-IO like the rest of the core.

Trailers: a chunked response's trailer fields follow the head's in ``Upstream.headers``
(llhttp reports them through ``on_header``); when the response goes to the client chunked
too, its last chunk carries them (``writing.last_chunk``), and a ``grpc-status`` among them
(or in the head: a trailers-only response) classifies the call in the metrics as HTTP/2
calls are.  A response without trailers costs one length comparison at its end.
"""

from __future__ import annotations

import logging

import httptools

from proxy.headers import clean_headers
from proxy.http import commands as c
from proxy.http import guarding
from proxy.http.exchanges import Exchange
from proxy.http.relaying import _COALESCE_LIMIT, _NO_BODY_STATUS, _PAUSE_UPSTREAM_FULL, Relay
from proxy.http.upstreams import Upstream
from proxy.http.writing import LAST_CHUNK, last_chunk, response_head
from proxy.resilience.retrying import Failure


class Responding(Relay):
    """Relay responses from the exchange's upstream to the client (see the module docstring)."""

    __slots__ = ()

    # ------------------------------------------------------------------ upstream events
    def _upstream_data(self, upstream: Upstream, data: bytes) -> None:
        if upstream.sink is not self:
            self._cmds.append(c.CloseUpstream(upstream, abort=False))  # a response nobody asked for
            return
        self._up_progress = self.clock()  # for the destination's idle timeout
        try:
            upstream.parser.feed_data(data)  # what Upstream.feed does, one call less on the hot path
        except httptools.HttpParserUpgrade as e:
            self._upstream_upgraded(upstream, data[int(e.args[0]) :])
        except httptools.HttpParserCallbackError:
            raise
        except httptools.HttpParserError as e:
            self._log(logging.INFO, f"upstream {upstream.key}: malformed response: {e}", "bad_response")
            self._upstream_broken(upstream, "bad_response")

    def response_head(self, conn: Upstream) -> None:
        ex = self.queue[0] if self.queue else None
        if ex is None or ex.upstream is not conn:
            return
        status: int = conn.parser.get_status_code()
        clean = clean_headers(conn.headers)
        reason = conn.reason or b"-"
        if 100 <= status < 200 and status != 101:
            conn.informational = True
            self._out.append(response_head(status, reason, clean, b""))
            self._flush()
            return
        if ex.guard is not None:
            guarding.record(ex, ok=status < 500)
            if self._retry(ex, status, discard=conn):
                return
        ex.deadline = 0.0
        ex.response_started = True
        ex.status = status
        ex.grpc_status = clean.grpc_status
        if status == 101:
            extra = b"connection: upgrade\r\nupgrade: " + (clean.upgrade or b"") + b"\r\n"
            self._out.append(response_head(status, reason, clean, extra))
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
        self._out.append(response_head(status, reason, clean, extra))
        if ex.is_head:
            # httptools does not know the request was HEAD: the response ends with its head
            self._response_done(ex)

    def response_body(self, conn: Upstream, body: bytes) -> None:
        ex = self.queue[0] if self.queue else None
        if ex is None or ex.response_done or self._closing or ex.upstream is not conn:
            return
        size = len(body)
        ex.resp_bytes += size
        if ex.resp_chunked:
            body = b"%x\r\n%b\r\n" % (size, body)
        if size >= _COALESCE_LIMIT:
            self._flush()
            self._cmds.append(c.WriteClient(body))
        else:
            self._out.append(body)

    def response_complete(self, conn: Upstream) -> None:
        ex = self.queue[0] if self.queue else None
        if ex is None or ex.upstream is not conn or ex.response_done:
            return
        if ex.status == 101:
            return  # the parser raises the upgrade next: the connection becomes a tunnel
        headers = conn.headers
        if len(headers) > conn.head_fields:
            self._response_done(ex, headers[conn.head_fields :])
        else:
            self._response_done(ex)

    def _response_done(self, ex: Exchange, trailers: list[tuple[bytes, bytes]] | None = None) -> None:
        if trailers is not None:
            for name, value in trailers:
                if name.lower() == b"grpc-status":
                    ex.grpc_status = value
            if ex.resp_chunked:
                self._out.append(last_chunk(trailers))
        elif ex.resp_chunked:
            self._out.append(LAST_CHUNK)
        ex.response_done = True
        if not ex.request_done and ex.upstream is not None:
            ex.upstream.keep_alive = False  # answered before the whole request arrived: not reusable
        self._advance()

    def _upstream_upgraded(self, conn: Upstream, rest: bytes) -> None:
        ex = self.queue[0] if self.queue else None
        if ex is None or ex.upstream is not conn or not ex.upgrade or ex.status != 101:
            conn.sink = None
            self._cmds.append(c.CloseUpstream(conn))
            self._fail_connection("bad_response")
            return
        conn.tunnel = True
        conn.sink = None
        self._dead = True
        self._closing = True  # the shell owns both sockets from now on
        if rest:
            self._out.append(rest)
        self._flush()
        self._cmds.append(c.StartTunnel(conn, self._take_upgrade_buffer()))
        if ex.stats is not None:
            ex.stats.response(101, self.clock() - ex.started)
        ex.deadline = 0.0
        self.queue.clear()
        self._set_timer(0.0)

    def _take_upgrade_buffer(self) -> bytes:
        return b""

    def _upstream_broken(self, conn: Upstream, reason: str) -> None:
        ex = self.queue[0] if self.queue else None
        conn.sink = None
        self._cmds.append(c.CloseUpstream(conn))
        if ex is None or ex.upstream is not conn:
            return
        ex.upstream = None
        self._upstream_failed(ex, 502, "upstream sent a malformed response", reason)
        self._advance()

    def _upstream_closed(self, conn: Upstream) -> None:
        conn.closed = True
        ex = self.queue[0] if self.queue else None
        if ex is None or ex.upstream is not conn:
            return
        ex.upstream = None
        conn.sink = None
        if ex.response_started and conn.close_delimited and not ex.response_done:
            self._response_done(ex)
            return
        if not ex.response_started:
            target = ex.target
            if conn.served and ex.framing == 0 and not ex.retried and target is not None and ex.request_done:
                # A kept-alive connection closed by the server just as we reused it: send once more.
                ex.retried = True
                ex.deadline = 0.0
                attempt = ex.attempt
                self._attempt(ex, target, tried=attempt.tried if attempt else (), number=2)
                return
            if ex.guard is not None:
                guarding.record(ex, ok=False)
                if self._retry(ex, Failure.RESET):
                    return
            self._upstream_failed(ex, 503, "upstream connection closed before a response", "upstream_reset")
            self._advance()
            return
        if ex.stats is not None:
            ex.stats.error("upstream_reset")
        self._fail_connection("")

    def _upstream_writable(self, conn: Upstream, writable: bool) -> None:
        if writable:
            self._unpause(_PAUSE_UPSTREAM_FULL)
        else:
            self._pause(_PAUSE_UPSTREAM_FULL)


__all__ = ["Responding"]
