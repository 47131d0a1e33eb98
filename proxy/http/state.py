"""The HTTP/1.1 core's per-connection state, its output and its timer (sans-IO).

``CoreState`` is the base of the core's classes (``relaying.Relay`` -> ``responding.Responding``
-> ``connection.HttpConnection``): every attribute of a connection's core (slotted, so each
``self.x`` on the hot path is a fast load), the output of one event (``commands()``: client
bytes joined into one ``WriteClient``, a parked upstream released), pausing the client, the
``Log`` command, and the one lazy timer (limits checks, response deadlines, retry backoff).
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Protocol

from proxy.http import commands as c
from proxy.http.attempts import RetryPolicy
from proxy.http.commands import WriteClient
from proxy.http.exchanges import Exchange
from proxy.http.upstreams import Upstream
from proxy.limits import HttpLimits
from proxy.targets import PoolKey, Router


class IdlePool(Protocol):
    """The idle keep-alive connections (``proxy.upstream.UpstreamPool``); taking one is pure."""

    def acquire(self, key: PoolKey) -> Upstream | None: ...


class CoreState:
    """The per-connection state of the HTTP/1.1 core, its output and its one timer.

    Slotted (as is ``HttpConnection``): the core has more attributes than CPython shares
    keys for, and slots keep every ``self.x`` on the hot path a fast, specialised load.
    """

    __slots__ = (
        "_advancing",
        "_again",
        "_broken",
        "_check_at",
        "_closing",
        "_cmds",
        "_dead",
        "_head_since",
        "_out",
        "_parked",
        "_paused",
        "_progress",
        "_timer_at",
        "_up_progress",
        "_write_paused",
        "clock",
        "current",
        "limits",
        "peer",
        "pool",
        "queue",
        "retry",
        "router",
    )

    def __init__(
        self, *, router: Router, clock: Callable[[], float], limits: HttpLimits, retry: RetryPolicy, peer: str,
        pool: IdlePool | None,
    ) -> None:  # fmt: skip
        self.router = router
        self.pool = pool
        self.clock = clock
        self.limits = limits
        self.retry = retry
        self.peer = peer
        self.queue: collections.deque[Exchange] = collections.deque()
        self.current: Exchange | None = None
        self._cmds: list[c.Command] = []
        self._out: list[bytes] = []  # client bytes of this event, joined into one write
        self._parked: Upstream | None = None  # released by a finished exchange during this event
        self._paused = 0
        self._write_paused = False
        self._advancing = False
        self._again = False
        self._broken: tuple[int, str, str] | None = None  # (status, text, reason): a bad request follows the queue
        self._dead = False  # no more HTTP parsing (upgrade or error)
        self._closing = False  # CloseClient was given (or the client is gone)
        self._timer_at = 0.0  # the time of the timer the shell holds; 0: none
        self._check_at = 0.0  # the next limits check
        self._progress = 0.0  # the clock when the client last sent a byte
        self._up_progress = 0.0  # the clock when an upstream last sent a byte
        self._head_since = 0.0  # the clock when the head being parsed began

    @property
    def closing(self) -> bool:
        """The core has closed (or lost) the client connection; it handles nothing more."""
        return self._closing

    # ------------------------------------------------------------------ output
    def commands(self) -> list[c.Command]:
        """The commands so far (client writes joined, a parked upstream released), and forget them."""
        cmds = self._cmds
        out = self._out
        if out:
            self._out = []
            cmds.append(WriteClient(out[0] if len(out) == 1 else b"".join(out)))
        if self._parked is not None:
            cmds.append(c.ReleaseUpstream(self._parked))
            self._parked = None
        self._cmds = []
        return cmds

    def _flush(self) -> None:
        out = self._out
        if out:
            self._out = []
            self._cmds.append(c.WriteClient(out[0] if len(out) == 1 else b"".join(out)))

    def _close(self) -> None:
        self._dead = True
        if not self._closing:
            self._closing = True
            self._flush()
            self._cmds.append(c.CloseClient())

    def _pause(self, bit: int) -> None:
        if not self._paused and not self._closing:
            self._cmds.append(c.PAUSE_CLIENT)
        self._paused |= bit

    def _unpause(self, bit: int) -> None:
        if not self._paused & bit:
            return
        self._paused &= ~bit
        if not self._paused and not self._closing:
            self._cmds.append(c.RESUME_CLIENT)

    def _log(self, level: int, message: str, key: str) -> None:
        self._cmds.append(c.Log(level, message, key))

    # ------------------------------------------------------------------ the timer
    def _schedule_check(self, now: float) -> None:
        self._check_at = now + self.limits.check_interval
        self._reschedule()

    def _reschedule(self) -> None:
        at = self._check_at
        ex = self.queue[0] if self.queue else None
        if ex is not None and ex.deadline and ex.deadline < at:
            at = ex.deadline
        if ex is not None and ex.retry_at and ex.retry_at < at:
            at = ex.retry_at
        if ex is not None and ex.idle_timeout and ex.activated and not ex.response_done:
            idle_at = self._idle_since(ex) + ex.idle_timeout
            if idle_at < at:
                at = idle_at
        self._set_timer(at)

    def _idle_since(self, ex: Exchange) -> float:
        """The clock when a byte last moved either way for ``ex`` (its start at the earliest)."""
        return max(self._progress, self._up_progress, ex.started)

    def _arm_idle(self, ex: Exchange) -> None:
        """The destination's idle timeout for a new exchange: the lazy timer fires by then at the latest."""
        at = ex.started + ex.idle_timeout
        if not self._timer_at or at < self._timer_at:
            self._set_timer(at)

    def _set_timer(self, at: float) -> None:
        if at == self._timer_at:
            return
        self._timer_at = at
        self._cmds.append(c.SetTimer(at))

    def _arm_deadline(self, ex: Exchange) -> None:
        """The response-head timeout runs from the end of the request to the response head.

        One lazy timer per connection: a deadline later than the timer already set costs
        nothing now; when the timer fires, what is due is handled and it is set again.
        """
        if ex.target is None or ex.deadline or ex.response_started:
            return
        now = self.clock()
        if not ex.overall_deadline:
            ex.overall_deadline = now + (ex.request_timeout or ex.target.request_timeout)
        deadline = ex.overall_deadline
        policy = ex.policy
        if policy is not None and policy.per_try_timeout:
            deadline = min(deadline, now + policy.per_try_timeout)
        ex.deadline = deadline
        if not self._timer_at or deadline < self._timer_at:
            self._set_timer(deadline)


__all__ = ["CoreState"]
