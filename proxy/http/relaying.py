"""The exchange side of the HTTP/1.1 core: route, attempt, finish, errors.

``Relay`` is the base of ``responding.Responding`` (the response side) and so of
``HttpConnection`` (``connection`` adds the client side: parsing, limits, upgrade requests).
Everything here is sans-IO: it appends commands to ``_cmds`` and client bytes to ``_out``
(joined into one ``WriteClient`` per event).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final, cast

from proxy.headers import RequestHead, is_plain_target, normalize_target, path_of, split_target
from proxy.http import commands as c
from proxy.http import guarding
from proxy.http.attempts import Attempt
from proxy.http.commands import WriteUpstream
from proxy.http.exchanges import CHUNKED, Exchange
from proxy.http.state import CoreState
from proxy.http.upstreams import Upstream
from proxy.http.writing import local_response, request_head
from proxy.resilience.breaking import CIRCUIT_HEADER
from proxy.resilience.retrying import Failure
from proxy.tap.publishing import publish
from proxy.targets import LocalReply, Target

if TYPE_CHECKING:
    from proxy.http.upstreams import ResponseSink
    from proxy.metrics import EdgeStats

_PAUSE_UPSTREAM_FULL: Final = 1
_PAUSE_PIPELINE: Final = 2
_PAUSE_WAIT: Final = 4
_PAUSE_UPGRADE: Final = 8
_COALESCE_LIMIT: Final = 16 * 1024  # smaller response pieces are joined into one write
_NO_BODY_STATUS: Final = frozenset({204, 304})


def _grpc_code(value: bytes) -> int:
    """A grpc-status field's code; 2 (UNKNOWN) when it is no small number (as the HTTP/2 path reads it)."""
    value = value.strip()
    return int(value) if value.isdigit() and len(value) <= 2 else 2


class Relay(CoreState):
    """Route, attempt, finish and fail exchanges (see the module docstring)."""

    __slots__ = ()

    # ------------------------------------------------------------------ driving the FIFO
    def _advance(self) -> None:
        """Finish completed exchanges and start the next one; never re-entered."""
        if self._advancing:
            self._again = True
            return
        self._advancing = True
        try:
            while True:
                self._again = False
                self._advance_once()
                if not self._again:
                    break
        finally:
            self._advancing = False

    def _advance_once(self) -> None:
        queue = self.queue
        while queue:
            ex = queue[0]
            if ex.request_done and ex.response_done:
                queue.popleft()
                self._finish(ex)
                if ex.close_after or self._closing:
                    self._close()
                    return
                continue
            if not ex.activated and ex.head_done:
                self._activate(ex)
                continue
            break
        if self._paused and len(queue) <= 1:
            self._unpause(_PAUSE_PIPELINE)
        if not queue and self._broken is not None:
            self._reply_broken()

    def _activate(self, ex: Exchange) -> None:
        ex.activated = True
        ex.started = self.clock()
        clean = ex.clean
        assert clean is not None
        url = ex.url
        if url[:1] == b"/":
            authority, origin = clean.host, url  # origin-form, the common case
        else:
            authority, origin = split_target(url)
            if authority is None:
                authority = clean.host
        if clean.hosts > 1:
            self._reply_local(ex, self._bad("two Host header fields"))
            return
        if not is_plain_target(origin):
            normal = normalize_target(origin) if origin[:1] == b"/" else None
            if normal is None:
                why = "ambiguous request target: a fragment, a backslash, an encoded slash or a bad %-escape"
                self._reply_local(ex, self._bad(why))
                return
            origin = normal
        head = ex.head = RequestHead(ex.method.decode("latin-1"), path_of(origin), clean.headers)
        ex.authority = authority
        if ex.method == b"CONNECT":
            decision: Target | LocalReply = LocalReply(
                405, "CONNECT is not supported by this proxy", self.router.fallback_stats(), error="bad_request"
            )
        else:
            decision = self.router.decide(head, authority)
        if isinstance(decision, LocalReply):
            self._reply_local(ex, decision)
            return
        if decision.guard is not None:
            refused = guarding.admit(ex, decision, now=ex.started)
            if refused is not None:
                self._reply_local(ex, refused)
                return
            self._arm_idle(ex)
        decision.stats.requests += 1
        ex.head_bytes = request_head(ex.method, origin, url, clean, authority, ex.framing == CHUNKED, ex.upgrade)
        if ex.upgrade:
            ex.close_after = True  # after a refused upgrade the client's bytes are not HTTP
        self._attempt(ex, decision, tried=(), number=1)

    def _bad(self, why: str) -> LocalReply:
        return LocalReply(400, f"malformed request: {why}", self.router.fallback_stats(), error="bad_request")

    def _attempt(self, ex: Exchange, target: Target, *, tried: tuple[Target, ...], number: int) -> None:
        """Make one attempt of ``ex`` at ``target``: an idle pooled connection, else ``OpenUpstream``.

        The point where a retry policy's decision becomes another try (``number`` + 1).
        """
        ex.target = target
        ex.stats = target.stats
        if number == 1:
            idle = self._parked  # the connection the previous exchange just freed (pipelining), if it fits
            if idle is not None and idle.key == target.key and idle.keep_alive and not idle.closed:
                self._parked = None
            else:
                pool = self.pool
                idle = pool.acquire(target.key) if pool is not None else None
            if idle is not None:
                ex.attempt = None  # nothing to wait for: its first WriteUpstream binds it in the shell
                self._bind(ex, idle)
                return
        if ex.guard is not None and number == 1 and not guarding.take_pending(ex):
            ex.stats.requests -= 1  # _reply_local counts it again
            self._reply_local(ex, guarding.circuit_reply(ex, target, "requests waiting for a connection"))
            self._advance()
            return
        deadline = ex.started + target.request_timeout
        attempt = ex.attempt = Attempt(target, number, self.clock(), deadline, tried)
        self._cmds.append(c.OpenUpstream(attempt))

    def _bind(self, ex: Exchange, conn: Upstream) -> None:
        ex.upstream = conn
        conn.sink = cast("ResponseSink", self)  # a core is always a Responding (proxy.http.responding)
        conn.close_delimited = False
        conn.informational = False
        cmds = self._cmds
        if ex.pending:
            cmds.append(WriteUpstream(conn, ex.head_bytes + b"".join(ex.pending)))
            ex.pending = []
            ex.pending_size = 0
        else:
            cmds.append(WriteUpstream(conn, ex.head_bytes))
        if self._paused:
            self._unpause(_PAUSE_WAIT)
        if self._write_paused:
            cmds.append(c.PauseUpstream(conn))
        if ex.request_done:
            self._arm_deadline(ex)

    def _abort_upstream(self, ex: Exchange) -> None:
        up = ex.upstream
        ex.upstream = None
        if up is not None:
            up.sink = None
            self._cmds.append(c.CloseUpstream(up, abort=True))

    def _on_timeout(self, ex: Exchange) -> None:
        ex.deadline = 0.0
        if ex.response_started or ex.response_done:
            return
        if ex.upstream is not None:
            self._abort_upstream(ex)
        if ex.guard is not None:
            guarding.record(ex, ok=False)
            if self._retry(ex, Failure.RESET):  # a per-try timeout within the request's deadline
                return
        target = ex.target
        where = f"{target.address}:{target.port}" if target else "?"
        ex.attempt = None  # a connect still running for it is not waited for
        self._upstream_failed(ex, 504, f"upstream timeout: no response from {where}", "timeout")
        self._advance()

    def _idle_over(self, now: float) -> bool:
        """End the exchange at the head of the queue if it has been idle for its destination's idle timeout."""
        ex = self.queue[0] if self.queue else None
        if ex is None or not ex.idle_timeout or not ex.activated or ex.response_done:
            return False
        if now < self._idle_since(ex) + ex.idle_timeout - 0.001:  # timers may fire up to a millisecond early
            return False
        self._on_idle(ex)
        return True

    def _on_idle(self, ex: Exchange) -> None:
        """No byte either way for the destination's idle timeout: 504 before a response, else a reset."""
        ex.deadline = ex.retry_at = 0.0
        if ex.upstream is not None:
            self._abort_upstream(ex)
        if ex.guard is not None:
            guarding.record(ex, ok=False)
        ex.attempt = None
        self._upstream_failed(ex, 504, f"upstream idle: no byte either way for {ex.idle_timeout:g} s", "idle_timeout")
        self._advance()

    def _reply_local(self, ex: Exchange, reply: LocalReply) -> None:
        ex.deadline = 0.0
        ex.target = None
        ex.stats = reply.stats
        ex.pending = []
        ex.pending_size = 0
        if self._paused:
            self._unpause(_PAUSE_WAIT)
        stats = reply.stats
        stats.requests += 1
        if reply.error:
            stats.error(reply.error)
        if reply.denied:
            stats.denied += 1
        clean = ex.clean
        if not ex.request_done and ((clean is not None and clean.expect_continue) or ex.upgrade):
            ex.close_after = True
        if ex.upgrade:
            ex.close_after = True
        if not self._closing:
            self._out.append(local_response(reply.status, reply.text, close=ex.close_after, headers=reply.headers))
        ex.response_started = ex.response_done = True
        ex.status = reply.status
        seconds = self.clock() - ex.started
        stats.response(reply.status, seconds)
        if stats.tap.listening:
            self._tap(ex, stats, seconds, denied=reply.denied, error=reply.error)

    def _finish(self, ex: Exchange) -> None:
        ex.deadline = 0.0
        if ex.guard is not None:
            guarding.release(ex)
        conn = ex.upstream
        ex.upstream = None
        target = ex.target
        if conn is not None:
            conn.sink = None
            if ex.upgrade or ex.is_head:
                self._cmds.append(c.CloseUpstream(conn, abort=False))
            else:
                # parked until the end of this event: the next pipelined request may take it
                # (as it would from the pool); otherwise ReleaseUpstream goes out with the commands
                parked = self._parked
                if parked is not None:
                    self._cmds.append(c.ReleaseUpstream(parked))
                self._parked = conn
        if target is not None:
            seconds = self.clock() - ex.started
            stats = target.stats
            stats.request_bytes += ex.req_bytes
            stats.response_bytes += ex.resp_bytes
            stats.response(ex.status, seconds)
            if ex.grpc_status is not None:  # a gRPC call: classified by its status, as on the HTTP/2 path
                code = _grpc_code(ex.grpc_status)
                stats.grpc[code] = stats.grpc.get(code, 0) + 1
            if stats.tap.listening:
                self._tap(ex, stats, seconds)
            if target.feedback is not None and target.endpoint is not None and not ex.fed_back:
                ex.fed_back = True
                target.feedback.done(target.endpoint, seconds=seconds, ok=ex.status < 500)

    def _tap(self, ex: Exchange, stats: EdgeStats, seconds: float, *, denied: bool = False, error: str = "") -> None:
        head = ex.head
        publish(
            stats.tap, stats.labels, now=self.clock(), method=ex.method, authority=ex.authority,
            path=head.path if head is not None else ex.url, status=ex.status, seconds=seconds,
            request_bytes=ex.req_bytes, response_bytes=ex.resp_bytes, denied=denied, error=error,
        )  # fmt: skip

    def _upstream_failed(self, ex: Exchange, status: int, text: str, reason: str) -> None:
        target = ex.target
        if target is not None and target.feedback is not None and target.endpoint is not None and not ex.fed_back:
            ex.fed_back = True
            target.feedback.done(target.endpoint, seconds=self.clock() - ex.started, ok=False)
        if self._closing or not self.queue or self.queue[0] is not ex:
            return
        if ex.response_started:
            self._fail_connection(reason)
            return
        self._log(logging.WARNING, f"{status} to {self.peer} for {ex.method.decode('latin-1')} {ex.url[:200]!r}: "
                  f"{text}", str(status))  # fmt: skip
        stats = ex.stats or self.router.fallback_stats()
        stats.requests -= 1  # _reply_local counts it again
        extra = CIRCUIT_HEADER if reason == "circuit_open" else b""  # the connection limit (shell)
        self._reply_local(ex, LocalReply(status, text, stats, error=reason, headers=extra))

    # ------------------------------------------------------------------ retries (proxy.http.guarding)
    def _retry(self, ex: Exchange, outcome: int | Failure, *, discard: Upstream | None = None) -> bool:
        """Make another attempt of ``ex`` if its destination's guard allows one (after a backoff)."""
        now = self.clock()
        guard = guarding.may_retry(ex, outcome, now=now)
        if guard is None:
            return False
        if discard is not None:  # the failed answer is dropped with its connection
            discard.sink = None
            ex.upstream = None
            self._cmds.append(c.CloseUpstream(discard, abort=True))
        failed = ex.target
        if failed is not None:
            failed.stats.error(guarding.RETRIED)
        ex.retries += 1
        ex.attempt = None
        ex.deadline = 0.0
        ex.pending = list(ex.replay or ())
        ex.pending_size = ex.replay_size
        delay = (ex.policy or guard.retry).backoff(ex.retries - 1, guard.uniform)
        if delay <= 0.001:
            self._start_retry(ex)
        else:
            ex.retry_at = now + delay
            self._reschedule()
        return True

    def _start_retry(self, ex: Exchange) -> None:
        ex.retry_at = 0.0
        failed, head = ex.target, ex.head
        if failed is None or head is None:
            return
        tried = (*ex.attempt.tried, failed) if ex.attempt is not None else (failed,)
        target = self.router.another(head, failed, tried) or failed
        self._attempt(ex, target, tried=tried, number=ex.retries + 1)

    # ------------------------------------------------------------------ errors
    def _reply_broken(self) -> None:
        status, text, reason = self._broken or (400, "malformed request", "bad_request")
        self._broken = None
        stats = self.router.fallback_stats()
        stats.requests += 1
        stats.error(reason)
        stats.response(status, 0.0)
        if not self._closing:
            self._out.append(local_response(status, text, close=True))
        self._log(logging.INFO, f"{status} to {self.peer}: {text}", str(status))
        self._close()

    def _fail_connection(self, reason: str) -> None:
        if reason:
            stats = self.queue[0].stats if self.queue and self.queue[0].stats else self.router.fallback_stats()
            stats.error(reason)
        for ex in self.queue:
            if ex.upstream is not None:
                self._abort_upstream(ex)
            guarding.release(ex)
        self.queue.clear()
        self._dead = True
        if not self._closing:
            self._closing = True
            self._out = []
            self._cmds.append(c.CloseClient(abort=True))
        self._set_timer(0.0)


__all__ = ["Relay"]
