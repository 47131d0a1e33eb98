"""Retry decisions: may this failed attempt be repeated, and after how long?

A :class:`RetryPolicy` is built once per config from the policy's fields (OSM's
``retryOn``/``numRetries``/``perTryTimeout``/``retryBackoffBaseInterval``, Linkerd's
``retry.linkerd.io/http``/``limit``/``timeout``).  The sidecar asks it three things:

* :meth:`RetryPolicy.replayable` once per request, before the first attempt: is the request
  safe to repeat (an idempotent method, or ``retry_non_idempotent``) and does its body fit the
  64 KiB retry buffer?  A request that is not replayable is sent once, whatever fails.
* :meth:`RetryPolicy.should_retry` after a failed attempt: does the failure match a
  condition and are attempts left?  (The retry budget and the circuit breaker's retry limit
  are asked after it, by the caller: they are per destination, this is per request.)
* :meth:`RetryPolicy.backoff` how long to wait before the next attempt: exponential from
  ``backoff_base`` doubling up to ``backoff_max``, with full jitter (a uniform share of it),
  so retries of many callers do not arrive in step.

Conditions (``retry_on``), Envoy's names, which OSM and Linkerd users already know:

==========================  ==========================================================
``5xx``                     any 5xx response, a reset and a connect failure
``gateway-error``           502, 503, 504
``connect-failure``         the connection to the endpoint could not be made
``reset``                   the connection broke before a response head arrived
``retriable-status-codes``  a status listed in ``status_codes``
==========================  ==========================================================

A per-try timeout counts as a ``reset`` (the attempt is abandoned before a response).

gRPC (``grpc_statuses``, from Envoy's names ``cancelled`` 1, ``deadline-exceeded`` 4,
``resource-exhausted`` 8, ``internal`` 13, ``unavailable`` 14, or numeric codes): a gRPC call
is retried when its answer is *trailers-only* (``grpc-status`` in the response head, no
message) with a listed status, see :meth:`RetryPolicy.matches_grpc`.  A status that arrives
in trailers after response messages is never retried: the response has begun reaching the
caller.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from proxy.resilience.clocks import Uniform

RETRY_BUFFER_BYTES = 64 * 1024
IDEMPOTENT_METHODS = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})

ON_5XX = "5xx"
ON_GATEWAY_ERROR = "gateway-error"
ON_CONNECT_FAILURE = "connect-failure"
ON_RESET = "reset"
ON_STATUS_CODES = "retriable-status-codes"
CONDITIONS = (ON_5XX, ON_GATEWAY_ERROR, ON_CONNECT_FAILURE, ON_RESET, ON_STATUS_CODES)


class Failure(enum.Enum):
    """How an attempt failed when there is no response status to look at."""

    CONNECT = "connect-failure"  # no connection could be made (refused, unreachable, connect timeout)
    RESET = "reset"  # the connection broke (or the per-try timeout fired) before a response head


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """What may be retried, how often and how fast.

    ``max_retries`` counts retries, not attempts (OSM's ``numRetries``, Linkerd's
    ``retry.linkerd.io/limit``): a request is sent at most ``1 + max_retries`` times.
    ``per_try_timeout`` 0 means the attempt is bounded only by the request timeout.
    """

    retry_on: frozenset[str] = frozenset({ON_CONNECT_FAILURE})
    status_codes: frozenset[int] = frozenset()
    max_retries: int = 1
    per_try_timeout: float = 0.0
    backoff_base: float = 0.025
    backoff_max: float = 0.25
    retry_non_idempotent: bool = False
    buffer_bytes: int = RETRY_BUFFER_BYTES
    grpc_statuses: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        unknown = self.retry_on - set(CONDITIONS)
        if unknown:
            raise ValueError(f"unknown retry condition(s) {sorted(unknown)}; known: {', '.join(CONDITIONS)}")
        if self.max_retries < 0 or self.backoff_base < 0 or self.backoff_max < self.backoff_base:
            raise ValueError("max_retries >= 0 and 0 <= backoff_base <= backoff_max are required")

    @property
    def enabled(self) -> bool:
        return self.max_retries > 0 and bool(self.retry_on or self.grpc_statuses)

    def replayable(self, method: bytes, *, body_bytes: int | None) -> bool:
        """May this request be sent more than once?  ``body_bytes`` None: length unknown (chunked).

        A chunked body is replayable only while what has arrived of it fits the buffer; the
        caller asks again with the count so far and stops buffering when this says no.
        """
        if not self.enabled:
            return False
        if not self.retry_non_idempotent and method not in IDEMPOTENT_METHODS:
            return False
        return body_bytes is None or body_bytes <= self.buffer_bytes

    def matches(self, outcome: int | Failure) -> bool:
        """Does a failed attempt's outcome (a status, or a :class:`Failure`) match a condition?"""
        on = self.retry_on
        if isinstance(outcome, Failure):
            if outcome is Failure.CONNECT:
                return ON_CONNECT_FAILURE in on or ON_5XX in on or ON_RESET in on
            return ON_RESET in on or ON_5XX in on
        if ON_5XX in on and 500 <= outcome <= 599:
            return True
        if ON_GATEWAY_ERROR in on and outcome in (502, 503, 504):
            return True
        return ON_STATUS_CODES in on and outcome in self.status_codes

    def matches_grpc(self, status: int) -> bool:
        """Does a trailers-only gRPC answer with ``status`` match a listed gRPC status?"""
        return status in self.grpc_statuses

    def should_retry(self, outcome: int | Failure, *, retries_done: int) -> bool:
        """Whether another attempt is allowed by this policy (the budget is asked separately)."""
        return retries_done < self.max_retries and self.matches(outcome)

    def backoff(self, retries_done: int, uniform: Uniform) -> float:
        """Seconds to wait before retry number ``retries_done + 1`` (full jitter)."""
        ceiling: float = min(self.backoff_max, self.backoff_base * 2.0 ** min(retries_done, 30))
        return ceiling * uniform()


DEFAULT_RETRY_POLICY = RetryPolicy()
"""Without a policy: one retry, only when the connection could not be made, only idempotent requests."""
