"""What an ``Http2Connection`` reports (all plain data; no I/O)."""

from __future__ import annotations

from dataclasses import dataclass

from proxy.http2.messages import Message


@dataclass(frozen=True, slots=True)
class RequestStarted:
    """Server: a request head arrived on a new stream (``ended``: it has no body)."""

    stream_id: int
    message: Message
    ended: bool = False


@dataclass(frozen=True, slots=True)
class ResponseStarted:
    """Client: the final response head arrived (``ended``: no body follows)."""

    stream_id: int
    message: Message
    ended: bool = False


@dataclass(frozen=True, slots=True)
class Informational:
    """Client: a 1xx response head (e.g. 100 Continue)."""

    stream_id: int
    message: Message


@dataclass(frozen=True, slots=True)
class Body:
    """Body bytes; ``flow_length`` is what to hand back to ``consumed`` once they are passed on."""

    stream_id: int
    data: bytes
    flow_length: int


@dataclass(frozen=True, slots=True)
class Trailers:
    stream_id: int
    headers: list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class Ended:
    """The peer finished sending on this stream."""

    stream_id: int


@dataclass(frozen=True, slots=True)
class StreamReset:
    stream_id: int
    error_code: int
    remote: bool


@dataclass(frozen=True, slots=True)
class Writable:
    """A blocked stream's send buffer drained under the low-water mark: read its source again."""

    stream_id: int


@dataclass(frozen=True, slots=True)
class GoAway:
    """The peer will accept no stream above ``last_stream_id``; ``error_code`` 0: the rest finish."""

    last_stream_id: int
    error_code: int


Event = RequestStarted | ResponseStarted | Informational | Body | Trailers | Ended | StreamReset | Writable | GoAway
