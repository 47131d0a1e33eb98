"""The destination's guard for HTTP/2 calls (gRPC included): retries, budget, circuit slots, outliers.

The same decision objects as the HTTP/1.1 core (``proxy.resilience``, asked through
``proxy.http.guarding`` there); this module is their HTTP/2 counterpart, pure (every call
takes ``now`` from the call's clock).  A :class:`CallGuard` lives as long as one call:

* :func:`admit` when the call is routed: the circuit's request limit (None: the circuit is
  full, the caller answers 503 with ``x-smi-circuit: open``), a budget deposit, the route's
  retry policy and request timeout, and whether the call may be replayed;
* :meth:`CallGuard.keep` / :meth:`CallGuard.keep_trailers`: the request as sent, while it
  fits the 64 KiB retry buffer (the body is forwarded at once; this is a copy);
* :meth:`CallGuard.retry_response` when a response head arrives, :meth:`CallGuard.retry_failure`
  when the attempt broke (reset, per-try timeout) before one: the policy's conditions, attempts
  left, the request complete and buffered, the circuit's retry limit and the budget, in that
  order (a refused retry spends nothing);
* :meth:`CallGuard.record` the attempt's outcome for outlier detection;
* :meth:`CallGuard.release` when the call ends, however it ends.

Which calls may be replayed: what ``RetryPolicy.replayable`` says (an idempotent method, or
``retryNonIdempotent``), and a gRPC call (always a POST) when the policy lists gRPC statuses:
naming them is the policy saying the service's calls are safe to repeat on those answers, as
in gRPC's own retry policy (``retryableStatusCodes``).

gRPC statuses are retried only from a *trailers-only* answer (``grpc-status`` in the response
head, the stream ended with it): nothing of the response has reached the caller.  A status in
trailers after response messages is relayed as it is (the response has begun).
"""

from __future__ import annotations

from proxy.compiled import any_match
from proxy.headers import RequestHead
from proxy.resilience.guard import DestinationGuard
from proxy.resilience.retrying import Failure, RetryPolicy
from smi.proxyconfig import Endpoint


class CallGuard:
    """The resilience state of one call (see the module docstring)."""

    __slots__ = ("guard", "policy", "replay", "replay_size", "request_timeout", "retries", "retry_held", "trailers")

    def __init__(self, guard: DestinationGuard, policy: RetryPolicy, *, replayable: bool,
                 request_timeout: float) -> None:  # fmt: skip
        self.guard = guard
        self.policy = policy
        self.replay: list[bytes] | None = [] if replayable else None  # the request body as sent
        self.replay_size = 0
        self.trailers: list[tuple[bytes, bytes]] | None = None  # the request's trailers, if any
        self.request_timeout = request_timeout  # a route's request timeout; 0: the target's
        self.retries = 0
        self.retry_held = False  # a circuit retry slot is held by the attempt in flight

    # ------------------------------------------------------------------ the request as sent
    def keep(self, data: bytes) -> None:
        replay = self.replay
        if replay is None:
            return
        self.replay_size += len(data)
        if self.replay_size > self.policy.buffer_bytes:
            self.replay = None  # too large to replay: this call is sent once
        else:
            replay.append(data)

    def keep_trailers(self, trailers: list[tuple[bytes, bytes]]) -> None:
        self.trailers = trailers

    @property
    def replayable(self) -> bool:
        return self.replay is not None

    @property
    def idle_timeout(self) -> float:
        """The destination's idle timeout (``timeouts.idle``, 300 s unless a policy sets it)."""
        return self.guard.idle_timeout

    # ------------------------------------------------------------------ decisions
    def retry_response(self, status: int, trailers_only_grpc: int | None, *, now: float, ended: bool) -> bool:
        """A response head arrived: may the call be retried instead of relaying it?

        ``trailers_only_grpc``: the ``grpc-status`` of a trailers-only answer (None otherwise).
        """
        policy = self.policy
        if trailers_only_grpc is not None and trailers_only_grpc != 0 and policy.matches_grpc(trailers_only_grpc):
            matched = True
        else:
            matched = status >= 300 and policy.matches(status)
        return matched and self._take(now, ended=ended)

    def retry_failure(self, failure: Failure, *, now: float, ended: bool) -> bool:
        """The attempt broke before a response head (a reset, the per-try timeout): retry?"""
        return self.policy.matches(failure) and self._take(now, ended=ended)

    def _take(self, now: float, *, ended: bool) -> bool:
        if not ended or self.replay is None or self.retries >= self.policy.max_retries:
            return False
        breaker = self.guard.breaker
        if not breaker.try_retry():
            return False
        if not self.guard.budget.try_withdraw(now):
            breaker.release_retry()
            return False
        self.retry_held = True
        self.retries += 1
        return True

    def backoff(self) -> float:
        """Seconds to wait before the retry just granted (full jitter)."""
        return self.policy.backoff(self.retries - 1, self.guard.uniform)

    # ------------------------------------------------------------------ outcomes and the end
    def record(self, endpoint: Endpoint | None, *, ok: bool) -> None:
        """The outcome of the attempt in flight (outlier detection); its retry slot is given back."""
        if self.retry_held:
            self.retry_held = False
            self.guard.breaker.release_retry()
        if endpoint is not None:
            self.guard.outliers.record(endpoint, ok=ok)

    def release(self) -> None:
        """The call is over: give back its circuit slots (call once)."""
        breaker = self.guard.breaker
        breaker.release_request()
        if self.retry_held:
            self.retry_held = False
            breaker.release_retry()


def admit(guard: DestinationGuard, head: RequestHead, *, grpc_call: bool, now: float) -> CallGuard | None:
    """Take the call's circuit slot and deposit in the budget; None when the circuit is full."""
    if not guard.breaker.try_request():
        return None
    guard.budget.deposit(now)
    policy, timeout = guard.retry, 0.0
    for route in guard.routes:
        if any_match(route.matches, head):
            policy, timeout = route.retry, route.request_timeout
            break
    if grpc_call and policy.enabled and policy.grpc_statuses:
        replayable = True
    else:
        replayable = policy.replayable(head.method.encode("latin-1"), body_bytes=None)
    return CallGuard(guard, policy, replayable=replayable, request_timeout=timeout)


__all__ = ["CallGuard", "admit"]
