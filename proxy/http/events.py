"""Events: what happened, fed into a connection core (``HttpConnection.handle``).

Events are past-tense facts, made by the I/O shell (``proxy.http.shell``) or by a test.
They carry no time except ``DeadlineReached``: a core reads the clock it was given.
Upstream events name the ``Upstream`` they concern (a core may hold several over its life:
one per attempt, pooled ones reused), so a stale event about an upstream the core has let go
of is ignored, never misapplied.
"""

from __future__ import annotations

from dataclasses import dataclass

from proxy.http.attempts import Attempt, ConnectFailure
from proxy.http.upstreams import Upstream


class Event:
    """Base of every event."""

    __slots__ = ()


@dataclass(slots=True)
class ClientConnected(Event):
    """The client connection is open (the core starts its timer)."""


@dataclass(slots=True)
class ClientData(Event):
    """Bytes read from the client (downstream) connection."""

    data: bytes


@dataclass(slots=True)
class ClientEof(Event):
    """The client half-closed its side (a FIN): no more request bytes will come."""


@dataclass(slots=True)
class ClientClosed(Event):
    """The client connection is gone (reset, or closed by us and now finished)."""


@dataclass(slots=True)
class ClientWritable(Event):
    """The client's write buffer crossed a water mark: ``False`` = full (stop producing), ``True`` = drained."""

    writable: bool


@dataclass(slots=True)
class UpstreamConnected(Event):
    """The connection asked for by ``OpenUpstream(attempt)`` is ready (new, or ``reused`` from the pool)."""

    attempt: Attempt
    upstream: Upstream
    reused: bool = False


@dataclass(slots=True)
class UpstreamConnectFailed(Event):
    """``OpenUpstream(attempt)`` failed before any request byte was sent (so another attempt is safe)."""

    attempt: Attempt
    failure: ConnectFailure


@dataclass(slots=True)
class UpstreamData(Event):
    """Bytes read from an upstream connection (its codec turns them into response head/body/end)."""

    upstream: Upstream
    data: bytes


@dataclass(slots=True)
class UpstreamClosed(Event):
    """An upstream connection is gone (the server closed it, or it was reset)."""

    upstream: Upstream


@dataclass(slots=True)
class UpstreamWritable(Event):
    """An upstream's write buffer crossed a water mark: ``False`` = full, ``True`` = drained."""

    upstream: Upstream
    writable: bool


@dataclass(slots=True)
class Draining(Event):
    """The proxy is shutting down: finish what is in flight (``connection: close``), close when idle."""


@dataclass(slots=True)
class DeadlineReached(Event):
    """The time asked for by the last ``SetTimer`` has come (a core re-checks what is due)."""


__all__ = [
    "ClientClosed",
    "ClientConnected",
    "ClientData",
    "ClientEof",
    "ClientWritable",
    "DeadlineReached",
    "Draining",
    "Event",
    "UpstreamClosed",
    "UpstreamConnectFailed",
    "UpstreamConnected",
    "UpstreamData",
    "UpstreamWritable",
]
