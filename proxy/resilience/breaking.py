"""The circuit breaker of one destination: concurrency limits, answered at once.

Envoy's model (and OSM's ``connectionSettings`` names): four counters per destination, each
with a limit; a new connection, pending request, active request or retry that would go past
its limit is refused, and the caller gets **503** at once with ``x-smi-circuit: open`` (a
retry refused this way is simply not made: the caller gets the failed attempt's answer).
Nothing stays "open" by itself: the circuit closes as soon as the count drops below the
limit, so it "opens at the configured concurrency and closes after".

==================  =====  ==========================================================
limit               default  counts
==================  =====  ==========================================================
max_connections     1024   open connections to the destination's endpoints
max_pending         1024   requests waiting for a connection (connect in progress)
max_requests        1024   requests in flight (sent, response not yet complete)
max_retries         3      retries in flight
==================  =====  ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass

CIRCUIT_HEADER = b"x-smi-circuit: open\r\n"


@dataclass(frozen=True, slots=True, kw_only=True)
class CircuitLimits:
    max_connections: int = 1024
    max_pending: int = 1024
    max_requests: int = 1024
    max_retries: int = 3

    def __post_init__(self) -> None:
        if min(self.max_connections, self.max_pending, self.max_requests, self.max_retries) < 0:
            raise ValueError("circuit limits must be >= 0")


class CircuitBreaker:
    """Counters and limits; ``try_*`` takes a slot (False: over the limit), ``release_*`` gives it back."""

    __slots__ = ("connections", "limits", "opened", "pending", "requests", "retries")

    def __init__(self, limits: CircuitLimits = CircuitLimits()) -> None:
        self.limits = limits
        self.connections = 0
        self.pending = 0
        self.requests = 0
        self.retries = 0
        self.opened = 0  # how many times a limit refused something (the counter the metrics show)

    def try_request(self) -> bool:
        if self.requests >= self.limits.max_requests:
            self.opened += 1
            return False
        self.requests += 1
        return True

    def release_request(self) -> None:
        if self.requests > 0:
            self.requests -= 1

    def try_pending(self) -> bool:
        if self.pending >= self.limits.max_pending:
            self.opened += 1
            return False
        self.pending += 1
        return True

    def release_pending(self) -> None:
        if self.pending > 0:
            self.pending -= 1

    def try_connection(self) -> bool:
        if self.connections >= self.limits.max_connections:
            self.opened += 1
            return False
        self.connections += 1
        return True

    def release_connection(self) -> None:
        if self.connections > 0:
            self.connections -= 1

    def try_retry(self) -> bool:
        if self.retries >= self.limits.max_retries:
            self.opened += 1
            return False
        self.retries += 1
        return True

    def release_retry(self) -> None:
        if self.retries > 0:
            self.retries -= 1

    @property
    def is_open(self) -> bool:
        """True while any counter is at its limit (what a dashboard shows as "open")."""
        limits = self.limits
        return (
            self.requests >= limits.max_requests
            or self.pending >= limits.max_pending
            or self.connections >= limits.max_connections
            or self.retries >= limits.max_retries
        )
