"""The request side of the HTTP/1.1 core: parsing what the client sends, limits, upgrade requests.

``Requesting`` sits between ``responding.Responding`` and ``connection.HttpConnection``
(which adds the events, attempts, draining and the timer).  Client bytes go to httptools
(llhttp) in ``_client_data``; its callbacks build one ``Exchange`` per request and send the
body upstream at once, re-framed when chunked.

Trailers: llhttp reports a chunked body's trailer fields through ``on_header`` after the
head; a chunked request gets a fresh ``raw_headers`` list when its head is complete (the
head's own list may be the forwarded head's), so they collect there, and the last chunk
sent upstream carries them (``writing.last_chunk``; fields a trailer may not carry are
left out).  A request without trailers costs one truth test at its end.  Fields are
bounded (twice ``max_headers``: a head over ``max_headers`` is a 431; trailers over the
bound are dropped).
Sans-IO like the rest of the core.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import httptools

from proxy.headers import clean_headers
from proxy.http import commands as c
from proxy.http import guarding
from proxy.http.attempts import RetryPolicy
from proxy.http.exchanges import CHUNKED, LENGTH, Exchange
from proxy.http.relaying import _PAUSE_PIPELINE, _PAUSE_UPGRADE, _PAUSE_WAIT
from proxy.http.responding import Responding
from proxy.http.state import IdlePool
from proxy.http.writing import LAST_CHUNK, last_chunk
from proxy.limits import HttpLimits
from proxy.targets import Router

_MAX_PENDING: Final = 256 * 1024


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head over the limits."""


class Requesting(Responding):
    """Parse client bytes into exchanges (see the module docstring)."""

    __slots__ = (
        "_completed",
        "_head_read",
        "_max_fields",
        "_max_head",
        "_max_headers",
        "_read_size",
        "_too_large",
        "_upgrade_buffer",
        "parser",
    )

    def __init__(
        self, *, router: Router, clock: Callable[[], float], limits: HttpLimits, retry: RetryPolicy, peer: str,
        pool: IdlePool | None,
    ) -> None:  # fmt: skip
        super().__init__(router=router, clock=clock, limits=limits, retry=retry, peer=peer, pool=pool)
        self.parser = httptools.HttpRequestParser(self)
        self._max_headers = limits.max_headers
        self._max_fields = 2 * limits.max_headers  # head and trailer fields of one request, together
        self._max_head = limits.max_head_bytes
        self._head_read = 0  # bytes of the head being parsed, counted over every read
        self._read_size = 0  # bytes of the read being parsed
        self._completed = 0  # requests completed in the read being parsed
        self._too_large = False
        self._upgrade_buffer: list[bytes] = []

    # ------------------------------------------------------------------ client bytes
    def _client_data(self, data: bytes) -> None:
        if self._dead:
            if not self._closing:
                self._upgrade_buffer.append(data)
            return
        self._progress = self.clock()
        self._read_size = len(data)
        self._completed = 0
        before = self.current
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as e:
            self._on_upgrade_request(data[int(e.args[0]) :])
            return
        except httptools.HttpParserCallbackError:
            if self._too_large:
                why = f"request head over {self._max_head} bytes or {self._max_headers} header fields"
                self._on_malformed(why, status=431)
                return
            raise
        except httptools.HttpParserError as e:
            self._on_malformed(str(e) or "malformed request")
            return
        cur = self.current
        if cur is not None and not cur.head_done:
            # a head spanning reads: every byte counts, those of the read it started in too
            if cur is before:
                self._head_read += len(data)
            else:
                self._head_read = len(data) if not self._completed else self._parsed_size(cur)
            if self._head_read > self._max_head:
                self._on_malformed(f"request head over {self._max_head} bytes", status=431)
                return
        if len(self.queue) > 1:
            self._pause(_PAUSE_PIPELINE)

    @staticmethod
    def _parsed_size(ex: Exchange) -> int:
        """The bytes of the head parsed so far (request line and header lines as sent, at least)."""
        size = len(ex.method) + len(ex.url) + 12
        for name, value in ex.raw_headers:
            size += len(name) + len(value) + 4
        return size

    # ------------------------------------------------------------------ parser callbacks
    def on_message_begin(self) -> None:
        ex = Exchange()
        self.current = ex
        self.queue.append(ex)
        self._head_since = self._progress

    def on_url(self, url: bytes) -> None:
        ex = self.current
        if ex is not None:
            ex.url += url
            if len(ex.url) > self._max_head:
                self._too_large = True
                raise _HeadTooLarge

    def on_header(self, name: bytes, value: bytes) -> None:
        ex = self.current
        if ex is not None:
            fields = ex.raw_headers
            if len(fields) < self._max_fields:  # bounded: a head over max_headers is a 431, more trailers dropped
                fields.append((name, value))

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
        if self._head_read + self._read_size > self._max_head and self._parsed_size(ex) > self._max_head:
            self._too_large = True  # a whole head in one large read: counted here
            raise _HeadTooLarge
        clean = ex.clean = clean_headers(ex.raw_headers)
        if clean.chunked:
            ex.framing = CHUNKED
            ex.raw_headers = []  # for the trailers: the head's list may be ``clean.headers`` itself
        elif clean.content_length is not None and clean.content_length != b"0":
            ex.framing = LENGTH
        ex.head_done = True
        self._head_read = 0
        if self.queue and self.queue[0] is ex:
            self._advance()

    def on_body(self, body: bytes) -> None:
        ex = self.current
        if ex is None:
            return
        ex.req_bytes += len(body)
        if ex.framing == CHUNKED:
            body = b"%x\r\n%b\r\n" % (len(body), body)
        if ex.replay is not None:
            guarding.keep_body(ex, body)
        if ex.upstream is not None:
            self._cmds.append(c.WriteUpstream(ex.upstream, body))
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
        self._completed += 1
        ex.request_done = True
        if ex.framing == CHUNKED:
            end = last_chunk(ex.raw_headers) if ex.raw_headers else LAST_CHUNK
            if ex.replay is not None:
                guarding.keep_body(ex, end)
            if ex.upstream is not None:
                self._cmds.append(c.WriteUpstream(ex.upstream, end))
            elif not ex.response_done:
                ex.pending.append(end)
        if ex.upstream is not None:
            self._arm_deadline(ex)
        if ex.response_done:
            self._advance()

    # ------------------------------------------------------------------ upgrade requests, malformed requests
    def _on_upgrade_request(self, rest: bytes) -> None:
        self._dead = True
        if rest:
            self._upgrade_buffer.append(rest)
        self._pause(_PAUSE_UPGRADE)
        ex = self.queue[-1] if self.queue else None
        if ex is not None and not ex.request_done:
            ex.request_done = True
        self._advance()

    def _take_upgrade_buffer(self) -> bytes:
        data = b"".join(self._upgrade_buffer)
        self._upgrade_buffer = []
        return data

    def _on_malformed(self, why: str, *, status: int = 400, reason: str = "bad_request") -> None:
        self._dead = True
        self._pause(_PAUSE_UPGRADE)
        cur = self.current
        self.current = None
        if cur is not None:
            guarding.release(cur)
        if cur is not None and cur.activated:
            # Broken in the middle of a forwarded body: the upstream cannot be reused.
            if cur.upstream is not None:
                self._abort_upstream(cur)
            if cur.response_started:
                (cur.stats or self.router.fallback_stats()).error("bad_request")
                self._close()
                return
            self.queue.remove(cur)
        elif cur is not None and cur in self.queue:
            self.queue.remove(cur)
        self._broken = (status, why if status != 400 else f"malformed request: {why}", reason)
        self._advance()



__all__ = ["Requesting"]
