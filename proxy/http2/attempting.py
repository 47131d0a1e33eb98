"""The attempts of an HTTP/2 call: per-try timeout, retries after a backoff, connect retries.

``CallAttempts`` is the base of ``proxy.http2.calls.Call``: the part of a call that makes
another attempt when the destination's guard (``proxy.http2.retries.CallGuard``) allows one.
The decisions are the guard's (pure); this is where they become timers and a new connect.
A retried attempt replays the buffered request (body and trailers) to another endpoint when
there is one; the failed attempt's answer is dropped with its stream (or connection).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Protocol

from proxy.http.attempts import Attempt, ConnectFailure, ConnectRetry
from proxy.resilience.retrying import Failure

if TYPE_CHECKING:
    from proxy.headers import RequestHead
    from proxy.http2.retries import CallGuard
    from proxy.http2.upsides import UpSide
    from proxy.targets import Router, Target

logger = logging.getLogger(__name__)
CONNECT_RETRY = ConnectRetry()


class _Window(Protocol):
    def consumed(self, sid: int, size: int) -> None: ...


class AttemptHost(Protocol):
    """What attempts need of the call's downstream side (``calls.CallHost`` has it)."""

    router: Router

    @property
    def conn(self) -> _Window: ...

    def cancel_stream(self, sid: int) -> None: ...


class CallAttempts:
    """Another attempt of a call (see the module docstring); ``Call`` has the state."""

    server: AttemptHost
    sid: int
    loop: asyncio.AbstractEventLoop
    target: Target
    guard: CallGuard | None
    head: RequestHead | None
    grpc_call: bool
    started: float
    done: bool
    request_ended: bool
    response_started: bool
    up: UpSide | None
    task: asyncio.Task[None] | None
    pending: list[tuple[bytes, int]]
    pending_trailers: list[tuple[bytes, bytes]] | None
    unacked_down: int
    number: int
    tried: tuple[Target, ...]
    try_timer: asyncio.TimerHandle | None
    backoff_timer: asyncio.TimerHandle | None
    idle_timer: asyncio.TimerHandle | None
    active_at: float

    async def _connect(self) -> None:
        raise NotImplementedError

    def fail(self, status: int, text: str, reason: str, *, extra: list[tuple[bytes, bytes]] | None = None) -> None:
        raise NotImplementedError

    def _finish(self, *, error: str = "") -> None:
        raise NotImplementedError

    def _arm_idle(self) -> None:
        """The destination's idle timeout (``timeouts.idle``): one lazy timer, moved on when bytes flowed."""
        guard = self.guard
        if guard is not None and guard.idle_timeout > 0:
            self.idle_timer = self.loop.call_later(guard.idle_timeout, self._on_idle)

    def _on_idle(self) -> None:
        self.idle_timer = None
        guard = self.guard
        if self.done or guard is None:
            return
        now = self.loop.time()
        due = self.active_at + guard.idle_timeout
        if now < due - 0.001:  # bytes moved since it was set: wait for the rest
            self.idle_timer = self.loop.call_later(due - now, self._on_idle)
            return
        up, self.up = self.up, None
        if up is not None:
            up.cancel()
        if self.response_started:
            self.server.cancel_stream(self.sid)  # the response has begun: reset the caller's stream
            self._finish(error="idle_timeout")
            return
        guard.record(self.target.endpoint, ok=False)
        self.fail(504, f"upstream idle: no byte either way for {guard.idle_timeout:g} s", "idle_timeout")

    def _arm_try_timer(self) -> None:
        """The per-try timeout runs from the end of the request (on this attempt) to the response head."""
        guard = self.guard
        if guard is not None and guard.policy.per_try_timeout and self.try_timer is None and not self.done:
            self.try_timer = self.loop.call_later(guard.policy.per_try_timeout, self._on_try_timeout)

    def _connect_failed(self, failure: ConnectFailure) -> None:
        """No connection: nothing of the request was sent, so another attempt is safe where allowed."""
        if self.done:
            return
        failed, guard, head = self.target, self.guard, self.head
        if guard is not None:
            guard.record(failed.endpoint, ok=False)
            now = self.loop.time()
            any_method = guard.policy.retry_non_idempotent or (self.grpc_call and guard.replayable)
            attempt = Attempt(failed, self.number, now, 0.0, self.tried)
            target = CONNECT_RETRY.after_connect_failure(
                head=head, attempt=attempt, failure=failure, now=now, another=self.server.router.another,
                any_method=any_method,
            ) if head is not None else None  # fmt: skip
            if target is not None:
                if failed.feedback is not None and failed.endpoint is not None:
                    failed.feedback.done(failed.endpoint, seconds=now - self.started, ok=False)
                logger.info("%s; trying again (attempt %d)", failure.text, self.number + 1)
                self.tried = (*self.tried, failed)
                self.target = target
                self.number += 1
                self.task = self.loop.create_task(self._connect())
                return
        self.fail(failure.status, failure.text, failure.reason)

    def _on_try_timeout(self) -> None:
        self.try_timer = None
        guard = self.guard
        if self.done or self.response_started or guard is None:
            return
        up, self.up = self.up, None
        if up is not None:
            up.cancel()
        guard.record(self.target.endpoint, ok=False)
        if guard.retry_failure(Failure.RESET, now=self.loop.time(), ended=self.request_ended):
            self._retry()
            return
        where = f"{self.target.address}:{self.target.port}"
        self.fail(504, f"upstream timeout: no response from {where} within the per-try timeout", "timeout")

    def _retry(self) -> None:
        """Drop the failed attempt and make another after the backoff (the guard has granted it)."""
        guard = self.guard
        assert guard is not None and guard.replay is not None
        up, self.up = self.up, None
        if up is not None:
            up.cancel()  # the failed answer is not relayed
        if self.try_timer is not None:
            self.try_timer.cancel()
            self.try_timer = None
        if self.task is not None and not self.task.done():
            self.task.cancel()
        if self.unacked_down:  # bytes the dropped upstream never took: give the caller its window back
            size, self.unacked_down = self.unacked_down, 0
            self.server.conn.consumed(self.sid, size)
        failed = self.target
        failed.stats.error("retried")
        if failed.feedback is not None and failed.endpoint is not None:
            failed.feedback.done(failed.endpoint, seconds=self.loop.time() - self.started, ok=False)
        self.tried = (*self.tried, failed)
        self.pending = [(data, 0) for data in guard.replay]  # acknowledged to the caller already
        self.pending_trailers = guard.trailers
        delay = guard.backoff()
        if delay <= 0.001:
            self._next_attempt()
        else:
            self.backoff_timer = self.loop.call_later(delay, self._next_attempt)

    def _next_attempt(self) -> None:
        self.backoff_timer = None
        if self.done:
            return
        failed, head = self.tried[-1], self.head
        another = self.server.router.another(head, failed, self.tried) if head is not None else None
        self.target = another or failed
        self.number += 1
        self.task = self.loop.create_task(self._connect())


__all__ = ["CONNECT_RETRY", "AttemptHost", "CallAttempts"]
