"""One call through the sidecar: a downstream HTTP/2 stream joined to its upstream.

The upstream half is an HTTP/2 stream (``H2Side``: to a peer sidecar, or to an app that
speaks HTTP/2) or an HTTP/1.1 connection (``H1Side``: protocol conversion for an app
that speaks HTTP/1.1).  Back-pressure: body bytes received on one side are acknowledged
to their sender (the HTTP/2 window update, or resuming the HTTP/1.1 socket) only once the
other side has taken them without blocking; otherwise when it signals it is writable.

Deadlines: ``grpc-timeout`` bounds the whole call (the answer is ``DEADLINE_EXCEEDED``),
otherwise the route's request timeout bounds the wait for the response head after the
request ended (504), as for HTTP/1.1.  Metrics: the edge of the ``Target`` counts the
request, its response status, duration and bytes, and for gRPC the ``grpc-status`` (a
non-zero status is a failure even with HTTP 200).

Resilience (``proxy.http2.retries``, the destination's guard as for HTTP/1.1): the circuit's
request limit (503 with ``x-smi-circuit: open``), retries of a call whose request is complete
and buffered (64 KiB) on the policy's conditions, a trailers-only gRPC status among them, each
after a backoff and within the budget and the circuit's retry limit, on another endpoint when
there is one; a per-try timeout; a failed connect tried again as ``ConnectRetry`` says (nothing
was sent).  Metrics: the call is counted once on its first edge (as the app made it), each
retry as the error reason ``retried`` on the edge it left (attempts as sent).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Protocol

from proxy.headers import RequestHead
from proxy.http.attempts import ConnectFailure
from proxy.http2 import grpc
from proxy.http2.attempting import CallAttempts
from proxy.http2.messages import Message
from proxy.http2.retries import CallGuard, admit
from proxy.http2.upsides import H1Side, H2Side, UpSide, Upstreams
from proxy.resilience.retrying import Failure
from proxy.tap.publishing import publish
from proxy.targets import Router, Target

logger = logging.getLogger(__name__)
CIRCUIT_OPEN = [(b"x-smi-circuit", b"open")]


class CallConn(Protocol):
    """The downstream connection's side of a call (an ``Http2Connection``, or ``Http1Front``)."""

    def send_head(self, sid: int, message: Message, *, end: bool = False) -> None: ...
    def send_body(self, sid: int, data: bytes, *, end: bool = False) -> bool: ...
    def send_trailers(self, sid: int, trailers: list[tuple[bytes, bytes]]) -> None: ...
    def end_stream(self, sid: int) -> None: ...
    def consumed(self, sid: int, size: int) -> None: ...


class CallHost(Protocol):
    """The downstream listener protocol a call belongs to (``Http2Server`` or ``Http1Front``)."""

    loop: asyncio.AbstractEventLoop
    upstreams: Upstreams
    router: Router

    @property
    def conn(self) -> CallConn: ...
    def reply_local(self, sid: int, status: int, text: str, *, grpc_call: bool,
                    extra: list[tuple[bytes, bytes]] | None = None) -> None: ...  # fmt: skip
    def flush(self) -> None: ...
    def finished(self, call: Call) -> None: ...
    def cancel_stream(self, sid: int) -> None: ...


class Call(CallAttempts):
    """See the module docstring."""

    server: CallHost

    def __init__(self, server: CallHost, sid: int, message: Message, target: Target, *,
                 grpc_call: bool, app_h2: bool) -> None:  # fmt: skip
        self.server = server
        self.sid = sid
        self.message = message
        self.target = target
        self.grpc_call = grpc_call
        self.use_h2 = bool(target.announce_port) or app_h2
        self.loop = server.loop
        self.started = self.loop.time()
        self.up: UpSide | None = None
        self.pending: list[tuple[bytes, int]] = []  # body pieces before the upstream is there
        self.pending_trailers: list[tuple[bytes, bytes]] | None = None
        self.request_ended = False
        self.response_started = False
        self.done = False
        self.unacked_down = 0  # downstream body bytes passed on but not yet acknowledged (upstream blocked)
        self.unacked_up = 0
        self.status = 0
        self.grpc_status: int | None = None
        self.req_bytes = 0
        self.resp_bytes = 0
        self.timer: asyncio.TimerHandle | None = None
        self.deadline: float | None = None
        self.task: asyncio.Task[None] | None = None
        self.retried = False
        # resilience (proxy.http2.retries): the guard's state while the call holds a circuit slot
        self.guard: CallGuard | None = None
        self.head: RequestHead | None = None
        self.number = 1  # the attempt in flight, from 1
        self.tried: tuple[Target, ...] = ()  # the targets of the earlier attempts
        self.try_timer: asyncio.TimerHandle | None = None
        self.backoff_timer: asyncio.TimerHandle | None = None
        self.idle_timer: asyncio.TimerHandle | None = None
        self.active_at = self.started  # the clock when a byte last moved either way (the idle timeout)

    # ------------------------------------------------------------------ start and connect
    def start(self, *, ended: bool, head: RequestHead | None = None) -> None:
        target = self.target
        target.stats.requests += 1
        self.request_ended = ended
        if target.guard is not None:
            self.head = head = head or self.message.request_head()
            guard = admit(target.guard, head, grpc_call=self.grpc_call, now=self.started) if head else None
            if guard is None:
                text = f"circuit open: {target.guard.name} has {target.guard.breaker.limits.max_requests} in flight"
                self.fail(503, text, "circuit_open", extra=CIRCUIT_OPEN)
                return
            self.guard = guard
            self._arm_idle()
        if self.grpc_call:
            self.deadline = grpc.parse_timeout(self.message.header(b"grpc-timeout"))
        if self.deadline is not None:
            self.timer = self.loop.call_later(self.deadline, self._on_timeout)
        elif ended:
            self._arm_head_timer()
        self.task = self.loop.create_task(self._connect())

    def _arm_head_timer(self) -> None:
        if self.timer is None and not self.response_started:
            route_timeout = self.guard.request_timeout if self.guard is not None else 0.0
            self.timer = self.loop.call_later(route_timeout or self.target.request_timeout, self._on_timeout)

    async def _connect(self) -> None:
        target = self.target
        try:
            if self.use_h2:
                client = await self.server.upstreams.h2.connect(target)
                if self.done:
                    return
                ended = self.request_ended and not self.pending and self.pending_trailers is None
                sid = client.open(self.message, self, end=ended)
                self.up = H2Side(client, sid)
                if ended:
                    return
            else:
                upstreams = self.server.upstreams
                side = upstreams.h1_acquire(target.key)
                if side is None:
                    opened = await asyncio.wait_for(
                        upstreams.pool.open(target, lambda: H1Side(self, upstreams, target.key)), target.connect_timeout
                    )
                    side = opened.protocol
                side.call = self
                side.unacked = 0
                if self.done:
                    side.cancel()
                    return
                side.begin(self.message, ended=self.request_ended and not self.pending)
                self.up = side
        except TimeoutError:
            text = f"upstream connect timeout: {target.address}:{target.port}"
            self._connect_failed(ConnectFailure("connect_timeout", text, 504))
            return
        except (OSError, ssl.SSLError) as e:
            text = f"upstream unreachable: {target.address}:{target.port}: {e}"
            self._connect_failed(ConnectFailure("connect_failed", text, retryable=not isinstance(e, ssl.SSLError)))
            return
        except Exception:
            logger.exception("HTTP/2 call to %s:%s: cannot connect", target.address, target.port)
            self.fail(503, "upstream unreachable", "proxy_error")
            return
        pending, self.pending = self.pending, []
        for data, flow in pending:
            self._forward(data, flow)
        if self.pending_trailers is not None:
            self.up.send_trailers(self.pending_trailers)
        elif self.request_ended:
            self.up.send_body(b"", end=True)
        if self.request_ended:
            self._arm_try_timer()
        self.server.flush()

    # ------------------------------------------------------------------ downstream (request) side
    def down_body(self, data: bytes, flow: int) -> None:
        self.active_at = self.loop.time()
        self.req_bytes += len(data)
        if self.guard is not None:
            self.guard.keep(data)
        if self.up is None:
            self.pending.append((data, flow))
            return
        self._forward(data, flow)

    def _forward(self, data: bytes, flow: int) -> None:
        assert self.up is not None
        if self.up.send_body(data) and not self.unacked_down:
            self.server.conn.consumed(self.sid, flow)
        else:
            self.unacked_down += flow

    def down_trailers(self, trailers: list[tuple[bytes, bytes]]) -> None:
        if self.guard is not None:
            self.guard.keep_trailers(trailers)
        if self.up is None:
            self.pending_trailers = trailers
        else:
            self.up.send_trailers(trailers)

    def down_end(self) -> None:
        self.request_ended = True
        if self.up is not None and self.pending_trailers is None:
            self.up.send_body(b"", end=True)
        if self.deadline is None:
            self._arm_head_timer()
        if self.up is not None:
            self._arm_try_timer()

    def down_reset(self) -> None:
        if not self.done:
            self._finish(error="downstream_closed")
        if self.up is not None:
            self.up.cancel()

    def down_writable(self) -> None:
        if self.unacked_up and self.up is not None:
            size, self.unacked_up = self.unacked_up, 0
            self.up.consumed(size)

    def up_writable(self) -> None:
        if self.unacked_down:
            size, self.unacked_down = self.unacked_down, 0
            self.server.conn.consumed(self.sid, size)
            self.server.flush()

    # ------------------------------------------------------------------ upstream (response) side
    def up_response(self, message: Message, ended: bool) -> None:
        if self.done:
            return
        guard = self.guard
        if guard is not None:
            trailers_only = grpc.status_of(message.headers) if self.grpc_call and ended else None
            failed = message.status >= 500 or (bool(trailers_only) and guard.policy.matches_grpc(trailers_only or 0))
            guard.record(self.target.endpoint, ok=not failed)
            if failed or message.status >= 300:
                now = self.loop.time()
                if guard.retry_response(message.status, trailers_only, now=now, ended=self.request_ended):
                    self._retry()
                    return
        if self.try_timer is not None:
            self.try_timer.cancel()
            self.try_timer = None
        self.active_at = self.loop.time()
        self.response_started = True
        self.status = message.status
        if self.timer is not None and self.deadline is None:
            self.timer.cancel()
            self.timer = None
        if self.grpc_call:
            self.grpc_status = grpc.status_of(message.headers)  # a trailers-only response
        self.server.conn.send_head(self.sid, message, end=ended)
        self.server.flush()

    def up_body(self, data: bytes, flow: int) -> None:
        if self.done:
            return
        self.active_at = self.loop.time()
        self.resp_bytes += len(data)
        ok = self.server.conn.send_body(self.sid, data)
        self.server.flush()
        if ok and not self.unacked_up and self.up is not None:
            self.up.consumed(flow)
        else:
            self.unacked_up += flow

    def up_trailers(self, trailers: list[tuple[bytes, bytes]]) -> None:
        if self.done:
            return
        if self.grpc_call:
            self.grpc_status = grpc.status_of(trailers)
        self.server.conn.send_trailers(self.sid, trailers)
        self.server.flush()
        self._finish()

    def up_end(self) -> None:
        if self.done:
            return
        self.server.conn.end_stream(self.sid)
        self.server.flush()
        self._finish()

    def up_reset(self, code: int, *, reused: bool = False) -> None:
        if self.done:
            return
        if reused and not self.response_started and not self.req_bytes and not self.retried:
            # A kept-alive connection the app closed just as we reused it: once more on a new one.
            self.retried = True
            self.up = None
            self.task = self.loop.create_task(self._connect())
            return
        if not self.response_started:
            guard = self.guard
            if guard is not None:
                self.up = None  # the stream (or connection) is gone
                guard.record(self.target.endpoint, ok=False)
                if guard.retry_failure(Failure.RESET, now=self.loop.time(), ended=self.request_ended):
                    self._retry()
                    return
            self.fail(503, "upstream connection closed before a response", "upstream_reset")
            return
        self.server.cancel_stream(self.sid)
        self._finish(error="upstream_reset")

    # ------------------------------------------------------------------ endings
    def _on_timeout(self) -> None:
        self.timer = None
        if self.done:
            return
        if self.up is not None:
            self.up.cancel()
        where = f"{self.target.address}:{self.target.port}"
        if self.response_started:
            self.server.cancel_stream(self.sid)
            self._finish(error="timeout")
        else:
            self.fail(504, f"upstream timeout: no response from {where}", "timeout")

    def fail(self, status: int, text: str, reason: str, *, extra: list[tuple[bytes, bytes]] | None = None) -> None:
        """Answer locally (the upstream failed before a response head)."""
        if self.done:
            return
        if self.up is not None:
            self.up.cancel()
        self.status = status
        self.grpc_status = None  # counted by its HTTP status, like any reply the proxy makes (no double count)
        self.server.reply_local(self.sid, status, text, grpc_call=self.grpc_call, extra=extra)
        self._finish(error=reason)

    def abort(self, reason: str) -> None:
        if self.up is not None:
            self.up.cancel()
        if not self.done:
            self._finish(error=reason)

    def _finish(self, *, error: str = "") -> None:
        self.done = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.guard is not None:
            self.guard.release()
            for handle in (self.try_timer, self.backoff_timer, self.idle_timer):
                if handle is not None:
                    handle.cancel()
            self.try_timer = self.backoff_timer = self.idle_timer = None
        if self.task is not None and not self.task.done():
            self.task.cancel()
        stats = self.target.stats
        seconds = self.loop.time() - self.started
        if error:
            stats.error(error)
        stats.request_bytes += self.req_bytes
        stats.response_bytes += self.resp_bytes
        if self.status:
            stats.response(self.status, seconds)
        if self.grpc_status is not None:
            stats.grpc[self.grpc_status] = stats.grpc.get(self.grpc_status, 0) + 1
        if stats.tap.listening:
            m = self.message
            publish(
                stats.tap, stats.labels, now=self.loop.time(), method=m.method, authority=m.authority, path=m.path,
                status=self.status, seconds=seconds, request_bytes=self.req_bytes, response_bytes=self.resp_bytes,
                error=error,
            )  # fmt: skip
        target = self.target
        if target.feedback is not None and target.endpoint is not None:
            ok = self.status < 500 and not error and grpc.classify(self.status, self.grpc_status) == "success"
            target.feedback.done(target.endpoint, seconds=seconds, ok=ok)
        self.server.finished(self)


__all__ = ["Call", "CallConn", "CallHost", "Upstreams"]
