"""Commands: what a connection core asks its I/O shell to do (returned by ``HttpConnection.handle``).

Commands are imperatives, executed by the shell in the order given.  Writes to the client
that one event produced are joined into one ``WriteClient`` (few system calls on the hot
path); a ``CloseClient`` always comes after the writes before it.  Logging is a command too
(``Log``), so what a core logs is part of the tested stream and the shell can rate-limit it.
"""

from __future__ import annotations

from dataclasses import dataclass

from proxy.http.attempts import Attempt
from proxy.http.upstreams import Upstream


class Command:
    """Base of every command."""

    __slots__ = ()


@dataclass(slots=True)
class WriteClient(Command):
    data: bytes


@dataclass(slots=True)
class CloseClient(Command):
    """Close the client connection after what was written (``abort``: reset it at once)."""

    abort: bool = False


@dataclass(slots=True)
class PauseClient(Command):
    """Stop reading from the client (flow control, pipelining)."""


@dataclass(slots=True)
class ResumeClient(Command):
    """Read from the client again."""


@dataclass(slots=True)
class OpenUpstream(Command):
    """Open a new connection for ``attempt`` (none was idle in the pool), within
    ``attempt.target.connect_timeout``.  Answered by ``UpstreamConnected`` or ``UpstreamConnectFailed``."""

    attempt: Attempt


@dataclass(slots=True)
class WriteUpstream(Command):
    """Write to ``upstream``; the first write of an exchange also binds the connection to this client
    connection in the shell (a connection the core took from the pool needs no other command)."""

    upstream: Upstream
    data: bytes


@dataclass(slots=True)
class PauseUpstream(Command):
    """Stop reading from the upstream (the client cannot take more yet)."""

    upstream: Upstream


@dataclass(slots=True)
class ResumeUpstream(Command):
    upstream: Upstream


@dataclass(slots=True)
class ReleaseUpstream(Command):
    """The core is done with ``upstream``: back to the keep-alive pool if ``upstream.reusable``, else closed."""

    upstream: Upstream


@dataclass(slots=True)
class CloseUpstream(Command):
    """Close (``abort``: reset) an upstream connection; it is never reused."""

    upstream: Upstream
    abort: bool = True


@dataclass(slots=True)
class StartTunnel(Command):
    """After a 101: splice the client and ``upstream`` as raw bytes; ``to_upstream`` are client bytes
    already read past the request (written upstream first).  The core handles nothing after this."""

    upstream: Upstream
    to_upstream: bytes


@dataclass(slots=True)
class SetTimer(Command):
    """Feed ``DeadlineReached`` at clock time ``at`` (replaces the previous timer; ``at`` 0: none)."""

    at: float


@dataclass(slots=True)
class Log(Command):
    """A log line; ``key`` groups lines the shell rate-limits together (e.g. ``"504"``)."""

    level: int
    message: str
    key: str = ""


PAUSE_CLIENT = PauseClient()
RESUME_CLIENT = ResumeClient()

__all__ = [
    "PAUSE_CLIENT",
    "RESUME_CLIENT",
    "CloseClient",
    "CloseUpstream",
    "Command",
    "Log",
    "OpenUpstream",
    "PauseClient",
    "PauseUpstream",
    "ReleaseUpstream",
    "ResumeClient",
    "ResumeUpstream",
    "SetTimer",
    "StartTunnel",
    "WriteClient",
    "WriteUpstream",
]
