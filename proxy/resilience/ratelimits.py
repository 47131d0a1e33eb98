"""Local rate limits at the destination's inbound sidecar (off by default).

The shape is Linkerd's HTTPLocalRateLimitPolicy: a ``total`` rate for all callers together,
an ``identity`` rate each caller identity gets on its own, and ``overrides`` giving named
identities their own rate.  A request must get a token from the total bucket *and* from its
caller's bucket; otherwise it is answered **429** with ``Retry-After`` (whole seconds until a
token is there, at least 1).  Opaque TCP gets ``connections_per_second`` on accepted
connections (a refused connection is closed at once).

Buckets are token buckets: ``rate`` tokens per second, holding at most ``burst`` (default: a
tenth of a second's worth, at least 1), starting full.  The small burst keeps the count of 429s
close to the excess over the rate (a client at three times the limit gets two of three
refused, within a few percent) while smoothing the jitter of a paced client.  Refill is
computed from the clock on each take, so an idle limiter costs nothing.  A request refused
by the caller's bucket takes nothing from the total.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from proxy.resilience.clocks import MONOTONIC, Clock

_MAX_IDENTITIES = 10_000  # per-identity buckets kept at most (the oldest are dropped beyond it)


class TokenBucket:
    __slots__ = ("_at", "_clock", "burst", "rate", "tokens")

    def __init__(self, rate: float, *, burst: float | None = None, clock: Clock = MONOTONIC) -> None:
        if rate <= 0:
            raise ValueError("a token bucket's rate must be > 0")
        self.rate = rate
        self.burst = burst if burst is not None and burst >= 1 else max(1.0, rate / 10)
        self.tokens = self.burst
        self._clock = clock
        self._at = clock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = now - self._at
        if elapsed > 0:
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
            self._at = now

    def available(self) -> bool:
        self._refill()
        return self.tokens >= 1.0

    def take(self) -> bool:
        self._refill()
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait_seconds(self) -> float:
        """Seconds until one token is there (0 when there is one now)."""
        self._refill()
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimitSpec:
    """Requests per second; 0 means "no limit" for that part."""

    total: float = 0.0
    identity: float = 0.0
    overrides: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    connections_per_second: float = 0.0

    def __post_init__(self) -> None:
        rates = [self.total, self.identity, self.connections_per_second, *self.overrides.values()]
        if any(r < 0 for r in rates):
            raise ValueError("rates must be >= 0")

    @property
    def limits_requests(self) -> bool:
        return bool(self.total or self.identity or self.overrides)


class LocalRateLimiter:
    """Decides 429 or not for one inbound sidecar's HTTP requests and TCP connections."""

    __slots__ = ("_clock", "_connections", "_identities", "_per_identity", "_total", "limited", "spec")

    def __init__(self, spec: RateLimitSpec, *, clock: Clock = MONOTONIC) -> None:
        self.spec = spec
        self._clock = clock
        self._total = TokenBucket(spec.total, clock=clock) if spec.total else None
        self._connections = (
            TokenBucket(spec.connections_per_second, clock=clock) if spec.connections_per_second else None
        )
        self._identities: dict[str, TokenBucket] = {}
        self._per_identity = bool(spec.identity or spec.overrides)
        self.limited = 0  # requests and connections refused (the counter the metrics show)

    def check_request(self, identity: str) -> int | None:
        """None: go ahead (a token was taken).  Otherwise the Retry-After seconds of a 429."""
        bucket = self._identity_bucket(identity) if self._per_identity else None
        if bucket is not None and not bucket.take():
            self.limited += 1
            return _whole_seconds(bucket.wait_seconds())
        total = self._total
        if total is not None and not total.take():
            if bucket is not None:
                bucket.tokens += 1.0  # refused by the total: the caller's token is given back
            self.limited += 1
            return _whole_seconds(total.wait_seconds())
        return None

    def check_connection(self) -> bool:
        """May a new TCP connection be accepted?"""
        if self._connections is None or self._connections.take():
            return True
        self.limited += 1
        return False

    def _identity_bucket(self, identity: str) -> TokenBucket | None:
        rate = self.spec.overrides.get(identity, self.spec.identity)
        if not rate:
            return None
        bucket = self._identities.get(identity)
        if bucket is None:
            if len(self._identities) >= _MAX_IDENTITIES:
                self._identities.pop(next(iter(self._identities)))
            bucket = self._identities[identity] = TokenBucket(rate, clock=self._clock)
        return bucket

    def carry_from(self, old: LocalRateLimiter) -> None:
        """Keep the tokens of buckets whose rate did not change across a config swap."""
        if old._total is not None and self._total is not None and old._total.rate == self._total.rate:
            self._total = old._total
        old_conns, new_conns = old._connections, self._connections
        if old_conns is not None and new_conns is not None and old_conns.rate == new_conns.rate:
            self._connections = old_conns
        for identity, bucket in old._identities.items():
            if self.spec.overrides.get(identity, self.spec.identity) == bucket.rate:
                self._identities[identity] = bucket
        self.limited = old.limited


def _whole_seconds(seconds: float) -> int:
    return max(1, math.ceil(seconds))
