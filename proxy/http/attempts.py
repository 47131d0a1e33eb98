"""Attempts: one try of one request at one upstream endpoint, and the decision to try again.

The core makes an ``Attempt`` for every try (``OpenUpstream(attempt)``); the shell answers
with ``UpstreamConnected`` or ``UpstreamConnectFailed``.  When a try fails, the core asks
its ``RetryPolicy`` (pure: no I/O, no clock of its own) whether to try again and where.
The default policy (``ConnectRetry``) retries only a connect that failed before any request
byte was sent, of an idempotent request (GET, HEAD, OPTIONS, TRACE, PUT, DELETE: the
mesh's defaults, docs/resilience.md; a policy with ``retryNonIdempotent`` widens it to any
method), on another endpoint (or once more on the same one when it is the only one), while
the request's deadline allows.  A policy with budgets,
per-try timeouts and circuit breaking (``proxy.resilience``) plugs in at the same point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from proxy.headers import RequestHead
from proxy.resilience.retrying import IDEMPOTENT_METHODS
from proxy.targets import Target

IDEMPOTENT_METHOD_NAMES = frozenset(m.decode() for m in IDEMPOTENT_METHODS)


@dataclass(slots=True)
class ConnectFailure:
    """Why an upstream connection could not be made; nothing of the request was sent."""

    reason: str  # the metrics reason: "connect_failed" or "connect_timeout"
    text: str  # for the local reply and the log, e.g. "upstream unreachable: 10.0.0.7:8080: Connection refused"
    status: int = 503  # the reply when no further attempt is made (504 for a timeout)
    retryable: bool = True  # False when trying again cannot help (a TLS failure, a wrong peer identity)


@dataclass(slots=True, eq=False)
class Attempt:
    """One try of one request at ``target``; ``number`` counts from 1.  Compared by identity."""

    target: Target
    number: int
    started: float  # clock time the try began
    deadline: float  # clock time by which the whole request must have its response head (0: none)
    tried: tuple[Target, ...] = field(default=())  # targets of the earlier tries of the same request


class RetryPolicy(Protocol):
    """Whether (and where) to make another attempt after a failed one; pure, no I/O."""

    def after_connect_failure(
        self, *, head: RequestHead, attempt: Attempt, failure: ConnectFailure, now: float, another: AnotherTarget,
        any_method: bool = False,
    ) -> Target | None:  # fmt: skip
        """The target of the next attempt, or None to answer with ``failure``.

        ``any_method``: the destination's policy allows repeating non-idempotent requests.
        """
        ...


class AnotherTarget(Protocol):
    """The router's choice of a target for a retry, avoiding ``avoid`` when it can (None: no endpoint)."""

    def __call__(self, head: RequestHead, failed: Target, avoid: tuple[Target, ...]) -> Target | None: ...


class ConnectRetry:
    """Retry a failed connect (nothing sent yet) on another endpoint, or once on the only one.

    Only idempotent requests unless ``any_method``; at most ``max_attempts`` tries in all,
    and none once the request's deadline has passed.
    """

    __slots__ = ("max_attempts",)

    def __init__(self, *, max_attempts: int = 3) -> None:
        self.max_attempts = max_attempts

    def after_connect_failure(
        self, *, head: RequestHead, attempt: Attempt, failure: ConnectFailure, now: float, another: AnotherTarget,
        any_method: bool = False,
    ) -> Target | None:  # fmt: skip
        if not failure.retryable or attempt.number >= self.max_attempts:
            return None
        if not any_method and head.method not in IDEMPOTENT_METHOD_NAMES:
            return None
        if attempt.deadline and now >= attempt.deadline:
            return None
        avoid = (*attempt.tried, attempt.target)
        target = another(head, attempt.target, avoid)
        if target is None:
            return None
        if target.key == attempt.target.key and any(t.key == target.key for t in attempt.tried):
            return None  # the same (only) endpoint gets one more try, not more
        return target


class NoRetry:
    """Never retry (for tests and for protocols where nothing is safe to repeat)."""

    __slots__ = ()

    def after_connect_failure(
        self, *, head: RequestHead, attempt: Attempt, failure: ConnectFailure, now: float, another: AnotherTarget,
        any_method: bool = False,
    ) -> Target | None:  # fmt: skip
        return None


__all__ = ["AnotherTarget", "Attempt", "ConnectFailure", "ConnectRetry", "NoRetry", "RetryPolicy"]
