"""Where the HTTP core asks the destination's ``DestinationGuard`` (``proxy.resilience``).

Small pure helpers the core calls at its attempt points; the decisions themselves are the
guard's objects (retry policy, budget, circuit breaker, outlier detector):

The retry budget takes the core's clock (``now``, from the core's injected clock) at
every call; nothing here reads the real time.

* ``admit`` when a request is routed: the circuit's request limit (503 at once with
  ``x-smi-circuit: open`` when full), a budget deposit, and whether the request may be
  replayed (an idempotent method or a policy saying otherwise, a body within 64 KiB: the
  core then keeps a copy of the body as it is sent);
* ``take_pending`` / ``drop_pending`` around a new upstream connection (the circuit's
  pending-requests limit; a pooled connection takes none);
* ``record`` when an attempt is answered or fails: the outlier detector's input;
* ``may_retry`` after a failed attempt: the policy's conditions and limit, the request's
  deadline, the circuit's retry limit and the destination's retry budget, in that order
  (so a refused retry spends nothing);
* ``release`` when the exchange ends, however it ends.

``admit`` also hands the exchange its destination's idle timeout (``timeouts.idle``): the
core ends an exchange with no byte either way for that long (504 before a response, a reset
after; error reason ``idle_timeout``).

Metrics: the request is counted once (as the app made it) on its first edge; every retry
sent is counted as the error reason ``retried`` on the edge it left (attempts as sent =
requests + retried); a circuit refusal as ``circuit_open``.
"""

from __future__ import annotations

from typing import Final

from proxy.compiled import any_match
from proxy.http.exchanges import CHUNKED, LENGTH, Exchange
from proxy.resilience.breaking import CIRCUIT_HEADER
from proxy.resilience.guard import DestinationGuard
from proxy.resilience.retrying import Failure
from proxy.targets import LocalReply, Target

RETRIED: Final = "retried"


def admit(ex: Exchange, target: Target, *, now: float) -> LocalReply | None:
    """Take the request's circuit slot; a 503 reply when the circuit is full (None: go ahead)."""
    guard = target.guard
    if guard is None:
        return None
    if not guard.breaker.try_request():
        text = f"circuit open: {guard.name} has {guard.breaker.limits.max_requests} requests in flight"
        return LocalReply(503, text, target.stats, error="circuit_open", headers=CIRCUIT_HEADER)
    ex.guard = guard
    ex.idle_timeout = guard.idle_timeout
    guard.budget.deposit(now)
    policy = guard.retry
    if guard.routes and ex.head is not None:
        for route in guard.routes:
            if any_match(route.matches, ex.head):
                policy = route.retry
                ex.request_timeout = route.request_timeout
                break
    ex.policy = policy
    if policy.enabled and not ex.upgrade:
        clean = ex.clean
        if ex.framing == CHUNKED:
            size: int | None = None
        elif ex.framing == LENGTH and clean is not None and clean.content_length is not None:
            size = int(clean.content_length) if clean.content_length.isdigit() else policy.buffer_bytes + 1
        else:
            size = 0
        if policy.replayable(ex.method, body_bytes=size):
            ex.replay = list(ex.pending)
            ex.replay_size = ex.pending_size
    return None


def keep_body(ex: Exchange, chunk: bytes) -> None:
    """A piece of the request body as sent upstream: kept while it fits the retry buffer."""
    replay = ex.replay
    if replay is None or ex.guard is None:
        return
    ex.replay_size += len(chunk)
    if ex.replay_size > (ex.policy or ex.guard.retry).buffer_bytes:
        ex.replay = None  # too large to replay: this request is sent once
    else:
        replay.append(chunk)


def take_pending(ex: Exchange) -> bool:
    """A new connection is about to be made for ``ex``: take a pending slot (False: the circuit is full)."""
    guard = ex.guard
    if guard is None or ex.pending_held:
        return True
    if not guard.breaker.try_pending():
        return False
    ex.pending_held = True
    return True


def drop_pending(ex: Exchange) -> None:
    """The connection is made (or failed): give the pending slot back."""
    if ex.pending_held and ex.guard is not None:
        ex.pending_held = False
        ex.guard.breaker.release_pending()


def circuit_reply(ex: Exchange, target: Target, what: str) -> LocalReply:
    guard = ex.guard
    name = guard.name if guard is not None else target.address
    return LocalReply(503, f"circuit open: {name} has too many {what}", target.stats, error="circuit_open",
                      headers=CIRCUIT_HEADER)  # fmt: skip


def record(ex: Exchange, *, ok: bool) -> None:
    """The outcome of the current attempt, for outlier detection."""
    drop_pending(ex)
    guard, target = ex.guard, ex.target
    if ex.retry_held and guard is not None:
        ex.retry_held = False
        guard.breaker.release_retry()
    if guard is not None and target is not None and target.endpoint is not None:
        guard.outliers.record(target.endpoint, ok=ok)


def may_retry(ex: Exchange, outcome: int | Failure, *, now: float) -> DestinationGuard | None:
    """The guard when another attempt is allowed (a retry slot and a budget token are taken)."""
    guard = ex.guard
    if guard is None or ex.replay is None or not ex.request_done or ex.head is None:
        return None
    if not (ex.policy or guard.retry).should_retry(outcome, retries_done=ex.retries):
        return None
    if ex.overall_deadline and now >= ex.overall_deadline:
        return None
    if not guard.breaker.try_retry():
        return None
    if not guard.budget.try_withdraw(now):
        guard.breaker.release_retry()
        return None
    ex.retry_held = True
    return guard


def release(ex: Exchange) -> None:
    """The exchange is over: give back its circuit slots (idempotent)."""
    guard = ex.guard
    if guard is None:
        return
    drop_pending(ex)
    ex.guard = None
    guard.breaker.release_request()
    if ex.retry_held:
        ex.retry_held = False
        guard.breaker.release_retry()


__all__ = [
    "RETRIED",
    "admit",
    "circuit_reply",
    "drop_pending",
    "keep_body",
    "may_retry",
    "record",
    "release",
    "take_pending",
]
