"""``Upstream``: the sans-IO state of one upstream HTTP/1.1 connection (its response parser).

An ``Upstream`` outlives the client connections it serves: it sits idle in the keep-alive
pool (per destination endpoint, ``proxy.targets.PoolKey``) between exchanges.  While bound
to an exchange its ``sink`` (the core) gets the parsed response: ``response_head``,
``response_body``, ``response_complete``.  ``io`` is the shell's handle for the socket
(opaque here); the core never touches it.
"""

from __future__ import annotations

from typing import Protocol

import httptools

from proxy.targets import PoolKey


class ResponseSink(Protocol):
    """Who gets the parsed response of a bound upstream (the core's current exchange)."""

    def response_head(self, upstream: Upstream) -> None: ...

    def response_body(self, upstream: Upstream, body: bytes) -> None: ...

    def response_complete(self, upstream: Upstream) -> None: ...


class UpstreamUpgraded(Exception):
    """The response switched protocols (101): ``rest`` are the bytes after its head."""

    def __init__(self, rest: bytes) -> None:
        super().__init__("upgraded")
        self.rest = rest


class MalformedResponse(Exception):
    """The upstream sent bytes that are no HTTP/1.1 response."""


class Upstream:
    """One upstream HTTP/1.1 connection: parser state and what the pool needs to know."""

    __slots__ = (
        "close_delimited",
        "closed",
        "head_fields",
        "headers",
        "idle_since",
        "idle_timeout",
        "informational",
        "io",
        "keep_alive",
        "key",
        "parser",
        "peer_identity",
        "reason",
        "remembered",
        "served",
        "sink",
        "tls_context",
        "tunnel",
    )

    def __init__(self, key: PoolKey, *, io: object = None, peer_identity: str | None = None) -> None:
        self.key = key
        self.io = io
        self.peer_identity = peer_identity  # the verified SPIFFE id (mTLS only)
        self.parser = httptools.HttpResponseParser(self)
        self.sink: ResponseSink | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_fields = 0  # how many of ``headers`` are the head's; the rest are a chunked body's trailers
        self.reason = b""
        self.keep_alive = False  # the last response allows another request on this connection
        self.close_delimited = False  # the response body ends when the connection closes
        self.informational = False  # a 1xx head is being parsed
        self.closed = False
        self.tunnel = False
        self.served = 0  # responses completed on this connection
        self.tls_context: object = None  # mTLS: the client context, to keep the session ticket (pool's business)
        self.remembered = False  # the session ticket was kept
        self.idle_since = 0.0  # when it went idle in the pool (time.monotonic)
        self.idle_timeout = 0.0  # closed after idle this long in the pool (its destination's); 0: the pool's

    @property
    def reusable(self) -> bool:
        return not self.closed and not self.tunnel and self.keep_alive

    def feed(self, data: bytes) -> None:
        """Parse response bytes; raises ``UpstreamUpgraded`` or ``MalformedResponse``."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as e:
            raise UpstreamUpgraded(data[int(e.args[0]) :]) from None
        except httptools.HttpParserCallbackError:
            raise
        except httptools.HttpParserError as e:
            raise MalformedResponse(str(e) or "malformed response") from None

    def status(self) -> int:
        return int(self.parser.get_status_code())

    # -- httptools callbacks
    def on_message_begin(self) -> None:
        self.headers = []
        self.reason = b""

    def on_status(self, status: bytes) -> None:
        self.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.head_fields = len(self.headers)
        self.keep_alive = self.parser.should_keep_alive()
        if self.sink is not None:
            self.sink.response_head(self)

    def on_body(self, body: bytes) -> None:
        if self.sink is not None:
            self.sink.response_body(self, body)

    def on_message_complete(self) -> None:
        if self.informational:
            self.informational = False
            return
        self.served += 1
        if self.sink is not None:
            self.sink.response_complete(self)


__all__ = ["MalformedResponse", "ResponseSink", "Upstream", "UpstreamUpgraded"]
