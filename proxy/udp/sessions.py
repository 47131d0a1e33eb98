"""UDP sessions (pure): keyed by the client's (address, port), expired after an idle timeout.

Like Envoy's UDP proxy: a datagram from a new source opens a session (one upstream flow),
every datagram either way refreshes it, and a session idle for ``idle_timeout`` (default 60 s,
Envoy's) is closed.  The table is bounded (``max_sessions``): a datagram that would open one
more session is dropped.  Time is passed in (``now``), so the logic is tested without a clock.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from typing import Final, Generic, TypeVar

DEFAULT_IDLE_TIMEOUT: Final = 60.0
DEFAULT_MAX_SESSIONS: Final = 1024
DEFAULT_MAX_DATAGRAM: Final = 8192  # bytes of one datagram; larger ones are dropped and counted
DEFAULT_MAX_QUEUED: Final = 64  # datagrams held per session while its upstream connects

S = TypeVar("S")
Key = tuple[str, int]


@dataclass(frozen=True, slots=True)
class UdpLimits:
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    max_sessions: int = DEFAULT_MAX_SESSIONS
    max_datagram: int = DEFAULT_MAX_DATAGRAM
    max_queued: int = DEFAULT_MAX_QUEUED


@dataclass(slots=True)
class _Entry(Generic[S]):
    session: S
    last_seen: float


@dataclass
class SessionTable(Generic[S]):
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    max_sessions: int = DEFAULT_MAX_SESSIONS
    _entries: dict[Hashable, _Entry[S]] = field(default_factory=dict)

    def get(self, key: Hashable, now: float) -> S | None:
        """The live session of ``key`` (refreshed), or None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        entry.last_seen = now
        return entry.session

    def touch(self, key: Hashable, now: float) -> None:
        entry = self._entries.get(key)
        if entry is not None:
            entry.last_seen = now

    def full(self) -> bool:
        return len(self._entries) >= self.max_sessions

    def add(self, key: Hashable, session: S, now: float) -> None:
        if self.full() and key not in self._entries:
            raise OverflowError(f"{self.max_sessions} UDP sessions are open already")
        self._entries[key] = _Entry(session, now)

    def remove(self, key: Hashable) -> S | None:
        entry = self._entries.pop(key, None)
        return entry.session if entry is not None else None

    def expired(self, now: float) -> list[tuple[Hashable, S]]:
        """Remove and return the sessions idle for ``idle_timeout`` or longer."""
        doomed = [k for k, e in self._entries.items() if now - e.last_seen >= self.idle_timeout]
        return [(k, self._entries.pop(k).session) for k in doomed]

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[S]:
        return iter([e.session for e in self._entries.values()])
