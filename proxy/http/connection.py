"""``HttpConnection``: the sans-IO HTTP/1.1 core of one client connection.

It takes events (``proxy.http.events``) and returns commands (``proxy.http.commands``);
it never touches a socket, a timer or the event loop.  What it does:

* Bytes are parsed by httptools (llhttp) as they arrive; body bytes are sent upstream at
  once (re-framed when chunked), never collected.
* Each parsed request becomes an ``Exchange`` in a FIFO.  Only the head of the FIFO talks
  to an upstream; pipelined requests wait (the client is paused meanwhile) so responses
  go back in order.
* Flow control both ways: a full client write buffer pauses the upstream's reading, a
  full upstream write buffer pauses the client's.  Reasons for pausing the client are bits
  in ``_paused``, so they never cancel each other out.
* The ``Router`` decides per request; the core counts the request on the decision's edge
  after it.  An ``Attempt`` is made per try (``OpenUpstream``); a connect of an idempotent
  request that failed before any byte was sent may be tried again where the ``RetryPolicy`` says.  A request without
  a body that meets a reused connection closed by the server before any response byte is
  sent once more on a new connection.
* Upgrade (WebSocket): after a 101 the shell splices both sockets (``StartTunnel``).
* Pieces of a response produced by one upstream read are joined into one ``WriteClient``.
* Limits (``proxy.limits``): 431 for a head over ``max_head_bytes`` (every byte counted) or
  ``max_headers``; 408 for a head or body that stalls; idle keep-alives are closed.  One
  lazy timer per connection (``SetTimer``) serves those checks and the response deadlines.
* Errors: 400 for a malformed request (two Host headers, an ambiguous target, a bad
  authority); 503 when the upstream is unreachable; 504 on a response-head timeout; each
  counted, and logged through rate-limited ``Log`` commands.

The client side is split by responsibility: ``requesting.Requesting`` parses requests
(limits on heads, upgrade requests, request trailers), ``responding.Responding`` relays
responses (response trailers, a ``grpc-status`` in them), ``relaying.Relay`` routes,
attempts and finishes; this class adds the events, attempts' outcomes, draining and the timer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from proxy.http import commands as c
from proxy.http import events as ev
from proxy.http import guarding
from proxy.http.attempts import Attempt, ConnectFailure, ConnectRetry, RetryPolicy
from proxy.http.commands import ReleaseUpstream, WriteClient
from proxy.http.requesting import Requesting
from proxy.http.state import IdlePool
from proxy.http.upstreams import Upstream
from proxy.limits import DEFAULT_LIMITS, HttpLimits
from proxy.targets import Router


class HttpConnection(Requesting):
    """One client connection; see the module docstring.  ``handle(event) -> commands``."""

    __slots__ = ("_handlers", "half_open")

    def __init__(
        self,
        *,
        router: Router,
        clock: Callable[[], float],
        limits: HttpLimits = DEFAULT_LIMITS,
        retry: RetryPolicy | None = None,
        peer: str = "?",
        pool: IdlePool | None = None,
    ) -> None:
        super().__init__(
            router=router, clock=clock, limits=limits, retry=retry or ConnectRetry(), peer=peer, pool=pool
        )
        self.half_open = False  # after ClientEof: the client's side is closed, ours finishes what is in flight
        self._handlers: dict[type, Callable[[ev.Event], None]] = {
            ev.ClientConnected: lambda e: self._connected(),
            ev.ClientData: lambda e: self._client_data(e.data),  # type: ignore[attr-defined]
            ev.ClientEof: lambda e: self._client_eof(),
            ev.ClientClosed: lambda e: self._client_closed(),
            ev.ClientWritable: lambda e: self._client_writable(e.writable),  # type: ignore[attr-defined]
            ev.UpstreamConnected: lambda e: self._upstream_connected(e.attempt, e.upstream, e.reused),  # type: ignore[attr-defined]
            ev.UpstreamConnectFailed: lambda e: self._connect_failed(e.attempt, e.failure),  # type: ignore[attr-defined]
            ev.UpstreamData: lambda e: self._upstream_data(e.upstream, e.data),  # type: ignore[attr-defined]
            ev.UpstreamClosed: lambda e: self._upstream_closed(e.upstream),  # type: ignore[attr-defined]
            ev.UpstreamWritable: lambda e: self._upstream_writable(e.upstream, e.writable),  # type: ignore[attr-defined]
            ev.DeadlineReached: lambda e: self._deadline_reached(),
            ev.Draining: lambda e: self._drain(),
        }

    # ------------------------------------------------------------------ the interface
    def handle(self, event: ev.Event) -> list[c.Command]:
        """Feed one event; the commands to execute, in order."""
        try:
            self._handlers[type(event)](event)
        except Exception:
            self._crashed(f"error while handling {type(event).__name__}")
        return self.commands()

    def client_data(self, data: bytes) -> list[c.Command]:
        """``handle(ClientData(data))`` without the event object (the shell's hot path)."""
        try:
            self._client_data(data)
        except Exception:
            self._crashed("error while handling a request")
        cmds = self._cmds  # commands(), inlined: this runs for every read
        out = self._out
        if out:
            self._out = []
            cmds.append(WriteClient(out[0] if len(out) == 1 else b"".join(out)))
        if self._parked is not None:
            cmds.append(ReleaseUpstream(self._parked))
            self._parked = None
        self._cmds = []
        return cmds

    def upstream_data(self, upstream: Upstream, data: bytes) -> list[c.Command]:
        """``handle(UpstreamData(upstream, data))`` without the event object (the shell's hot path)."""
        try:
            self._upstream_data(upstream, data)
        except Exception:
            self._crashed("error while relaying a response")
        cmds = self._cmds
        out = self._out
        if out:
            self._out = []
            cmds.append(WriteClient(out[0] if len(out) == 1 else b"".join(out)))
        if self._parked is not None:
            cmds.append(ReleaseUpstream(self._parked))
            self._parked = None
        self._cmds = []
        return cmds

    # ------------------------------------------------------------------ client events
    def _connected(self) -> None:
        now = self.clock()
        self._progress = now
        self._schedule_check(now)

    def _client_eof(self) -> None:
        # Half-close from the client: finish what is in flight, then close.
        if not self.queue or not self.queue[-1].request_done or self._dead:
            self._close()
            return
        self.queue[-1].close_after = True
        self.half_open = True

    def _client_closed(self) -> None:
        self._dead = self._closing = True
        self._out = []
        for ex in self.queue:
            if ex.upstream is not None:
                self._abort_upstream(ex)
            if ex.activated and not ex.response_done and ex.stats is not None:
                ex.stats.error("downstream_closed")
            guarding.release(ex)
        self.queue.clear()
        self._set_timer(0.0)

    def _client_writable(self, writable: bool) -> None:
        self._write_paused = not writable
        up = self.queue[0].upstream if self.queue else None
        if up is not None:
            self._cmds.append(c.ResumeUpstream(up) if writable else c.PauseUpstream(up))

    # ------------------------------------------------------------------ attempts
    def _upstream_connected(self, attempt: Attempt, upstream: Upstream, reused: bool) -> None:
        ex = self.queue[0] if self.queue else None
        if self._closing or ex is None or ex.attempt is not attempt:
            upstream.keep_alive = upstream.keep_alive or not reused
            self._cmds.append(c.ReleaseUpstream(upstream))
            return
        if ex.pending_held:
            guarding.drop_pending(ex)
        self._bind(ex, upstream)

    def _connect_failed(self, attempt: Attempt, failure: ConnectFailure) -> None:
        ex = self.queue[0] if self.queue else None
        if self._closing or ex is None or ex.attempt is not attempt:
            return
        if ex.guard is not None:
            guarding.record(ex, ok=False)
        head = ex.head
        if head is not None and not ex.response_started:
            target = self.retry.after_connect_failure(
                head=head, attempt=attempt, failure=failure, now=self.clock(), another=self.router.another,
                any_method=ex.policy is not None and ex.policy.retry_non_idempotent,
            )  # fmt: skip
            if target is not None:
                failed = attempt.target
                if failed.feedback is not None and failed.endpoint is not None:
                    failed.feedback.done(failed.endpoint, seconds=self.clock() - attempt.started, ok=False)
                self._log(logging.INFO, f"{failure.text}; trying again (attempt {attempt.number + 1})", "retry")
                self._attempt(ex, target, tried=(*attempt.tried, failed), number=attempt.number + 1)
                return
        self._upstream_failed(ex, failure.status, failure.text, failure.reason)
        self._advance()

    # ------------------------------------------------------------------ upgrade, errors
    def _crashed(self, what: str) -> None:
        self._cmds.append(c.Log(logging.ERROR, f"connection from {self.peer}: {what}", "crash"))
        self._fail_connection("proxy_error")

    def _drain(self) -> None:
        """Shutting down: an idle connection closes now; a busy one after its responses, which say so."""
        if self._closing:
            return
        if not self.queue and self.current is None:
            self._close()
            return
        for ex in self.queue:
            if not ex.response_started:
                ex.close_after = True  # the response carries connection: close, then we close

    # ------------------------------------------------------------------ the one timer
    def _deadline_reached(self) -> None:
        self._timer_at = 0.0
        if self._closing:
            return
        now = self.clock()
        ex = self.queue[0] if self.queue else None
        if ex is not None and ex.retry_at and now >= ex.retry_at - 0.001:
            self._start_retry(ex)  # a retry's backoff is over
        if ex is not None and ex.deadline and not ex.response_started and now >= ex.deadline - 0.001:
            self._on_timeout(ex)  # timers may fire up to a millisecond early
            if self.closing:
                return
        if self._idle_over(now) and self.closing:  # the destination's idle timeout (proxy.http.guarding)
            return
        if now >= self._check_at - 0.001:
            self._check_limits(now)
            if self.closing:
                return
            self._check_at = now + self.limits.check_interval
        self._reschedule()

    def _check_limits(self, now: float) -> None:
        limits = self.limits
        cur = self.current
        if cur is not None and not cur.head_done:
            if now - self._head_since >= limits.head_timeout:
                self._on_malformed(
                    f"request head not complete within {limits.head_timeout:g} s", status=408, reason="header_timeout"
                )
            return
        if cur is not None and not cur.request_done:
            if now - self._progress >= limits.body_timeout:
                if cur.response_started:
                    (cur.stats or self.router.fallback_stats()).error("body_timeout")
                    self._fail_connection("")
                else:
                    self._on_malformed(
                        f"request body stalled for {limits.body_timeout:g} s", status=408, reason="body_timeout"
                    )
            return
        if not self.queue and now - self._progress >= limits.idle_timeout:
            self._close()  # an idle keep-alive: closed quietly


__all__ = ["HttpConnection"]
