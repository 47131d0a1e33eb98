"""The retry budget of one destination: retries may add at most a share of the traffic.

Linkerd's defaults: ``retry_ratio`` 0.2 (retries may add 20% to the requests), plus a
reserve of ``min_retries_per_second`` (10) so a quiet service can still retry, with
``ttl`` 10 s: a deposit made by a request expires after that long.

How it counts, chosen so the bound a user reads is the bound that holds:

* every original request deposits ``retry_ratio`` of a retry; deposits expire after ``ttl``;
* the reserve fills at ``min_retries_per_second`` per second, up to ``min_retries_per_second *
  ttl``, and starts empty (a sidecar that just started cannot burst 100 retries at a
  struggling service);
* a retry withdraws one whole retry, from the oldest deposit first, then from the reserve.

Sans-IO: the budget has no clock of its own.  Every call takes ``now`` (monotonic seconds)
from its caller, in the sidecar the HTTP core's injected clock (the event loop's), so a test
drives it event by event and the budget and the core never disagree about time.  The
reserve starts filling at the first call (the destination's first request).

So over any run of ``T`` seconds with ``N`` requests the destination receives at most
``retry_ratio * N + min_retries_per_second * T`` retries, whatever the retry policies ask.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

_EPSILON = 1e-9


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryBudgetSpec:
    retry_ratio: float = 0.2
    min_retries_per_second: float = 10.0
    ttl: float = 10.0

    def __post_init__(self) -> None:
        if self.retry_ratio < 0 or self.min_retries_per_second < 0 or self.ttl <= 0:
            raise ValueError("retry_ratio >= 0, min_retries_per_second >= 0 and ttl > 0 are required")


class RetryBudget:
    """Deposits per request, a reserve refilled over time, one withdrawal per retry."""

    __slots__ = ("_bucket_second", "_deposits", "_ratio", "_reserve", "_reserve_at", "_spec")

    def __init__(self, spec: RetryBudgetSpec = RetryBudgetSpec()) -> None:
        self._spec = spec
        self._ratio = spec.retry_ratio
        # (whole second the deposits were made in, retries left of them), oldest first
        self._deposits: deque[list[float]] = deque()
        self._bucket_second = -1.0
        self._reserve = 0.0
        self._reserve_at: float | None = None  # the reserve fills from the first call on

    @property
    def spec(self) -> RetryBudgetSpec:
        return self._spec

    def deposit(self, now: float) -> None:
        """One original request was made at ``now`` (called once per request, not per attempt)."""
        if self._reserve_at is None:
            self._reserve_at = now
        if not self._ratio:
            return
        second = now // 1
        if second == self._bucket_second:
            self._deposits[-1][1] += self._ratio
        else:
            self._deposits.append([second, self._ratio])
            self._bucket_second = second

    def try_withdraw(self, now: float) -> bool:
        """Take one retry from the budget at ``now``; False (nothing taken) when it is exhausted."""
        self._expire(now)
        deposits = self._deposits
        if deposits and sum(b[1] for b in deposits) >= 1.0 - _EPSILON:
            need = 1.0
            while need > _EPSILON and deposits:
                bucket = deposits[0]
                take = min(need, bucket[1])
                bucket[1] -= take
                need -= take
                if bucket[1] <= _EPSILON and len(deposits) > 1:
                    deposits.popleft()
            return True
        self._refill(now)
        if self._reserve >= 1.0 - _EPSILON:
            self._reserve -= 1.0
            return True
        return False

    def available(self, now: float) -> float:
        """Retries that could be taken at ``now`` (for metrics and tests); changes nothing."""
        oldest = now - self._spec.ttl
        deposits = sum(b[1] for b in self._deposits if b[0] + 1.0 > oldest)
        return deposits + self._reserve_after(now)

    def _expire(self, now: float) -> None:
        oldest = now - self._spec.ttl
        deposits = self._deposits
        while deposits and deposits[0][0] + 1.0 <= oldest:
            deposits.popleft()
        if not deposits:
            self._bucket_second = -1.0

    def _reserve_after(self, now: float) -> float:
        spec = self._spec
        start = self._reserve_at
        elapsed = 0.0 if start is None else max(0.0, now - start)
        return min(spec.min_retries_per_second * spec.ttl, self._reserve + elapsed * spec.min_retries_per_second)

    def _refill(self, now: float) -> None:
        if self._reserve_at is None:
            self._reserve_at = now
            return
        self._reserve = self._reserve_after(now)
        self._reserve_at = max(now, self._reserve_at)
