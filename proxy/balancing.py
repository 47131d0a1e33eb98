"""Pure pickers: smooth weighted round-robin for splits, round-robin and EWMA for endpoints.

All pickers are plain objects with per-config state; a config swap builds new ones.  They
take no locks: the proxy runs on one event loop thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class SmoothWeightedRoundRobin(Generic[T]):
    """nginx's smooth weighted round-robin.

    Every pick adds each item's weight to its running score, takes the highest score and
    subtracts the total weight from it.  Over every ``sum(weights)`` picks each item is
    chosen exactly ``weight`` times, spread evenly (75/25 gives A A B A, A A B A, ...).
    Items of weight 0 are never picked.
    """

    __slots__ = ("_current", "_items", "_only", "_total", "_weights")

    def __init__(self, items: Sequence[tuple[T, int]]) -> None:
        live = [(item, weight) for item, weight in items if weight > 0]
        self._items: list[T] = [item for item, _ in live]
        self._weights: list[int] = [weight for _, weight in live]
        self._current: list[int] = [0] * len(live)
        self._total = sum(self._weights)
        self._only = self._items[0] if len(live) == 1 else None  # one item: every pick is it

    def __len__(self) -> int:
        return len(self._items)

    def pick(self) -> T | None:
        """The next item, or None when every weight is 0."""
        if self._only is not None:
            return self._only
        if not self._items:
            return None
        current = self._current
        weights = self._weights
        best = 0
        best_score = current[0] + weights[0]
        current[0] = best_score
        for i in range(1, len(current)):
            score = current[i] + weights[i]
            current[i] = score
            if score > best_score:
                best, best_score = i, score
        current[best] -= self._total
        return self._items[best]


class RoundRobin(Generic[T]):
    """Each item in turn."""

    __slots__ = ("_items", "_next", "_only")

    def __init__(self, items: Sequence[T]) -> None:
        self._items = tuple(items)
        self._next = 0
        self._only = self._items[0] if len(self._items) == 1 else None

    def pick(self) -> T | None:
        if self._only is not None:
            return self._only
        if not self._items:
            return None
        i = self._next
        self._next = (i + 1) % len(self._items)
        return self._items[i]

    def done(self, item: T, *, seconds: float, ok: bool) -> None:
        """Round-robin learns nothing from outcomes."""


class EwmaLeastLoaded(Generic[T]):
    """Least-loaded by EWMA of latency times outstanding requests (Finagle's peak-EWMA, simplified).

    ``score = (ewma_latency + penalty) * (in_flight + 1)``; an endpoint never tried scores 0
    so it is tried first; failures count as a long latency.  Ties go round-robin.
    """

    __slots__ = ("_decay", "_ewma", "_in_flight", "_index", "_items", "_next")

    FAILURE_SECONDS = 1.0

    def __init__(self, items: Sequence[T], *, decay: float = 0.3) -> None:
        self._items = tuple(items)
        self._index = {id(item): i for i, item in enumerate(self._items)}
        self._ewma = [0.0] * len(self._items)
        self._in_flight = [0] * len(self._items)
        self._decay = decay
        self._next = 0

    def pick(self) -> T | None:
        n = len(self._items)
        if not n:
            return None
        start = self._next
        self._next = (start + 1) % n
        best = start
        best_score = self._ewma[start] * (self._in_flight[start] + 1)
        for step in range(1, n):
            i = (start + step) % n
            score = self._ewma[i] * (self._in_flight[i] + 1)
            if score < best_score:
                best, best_score = i, score
        self._in_flight[best] += 1
        return self._items[best]

    def done(self, item: T, *, seconds: float, ok: bool) -> None:
        i = self._index.get(id(item))
        if i is None:
            return
        if self._in_flight[i] > 0:
            self._in_flight[i] -= 1
        sample = seconds if ok else max(seconds, self.FAILURE_SECONDS)
        old = self._ewma[i]
        self._ewma[i] = sample if old == 0.0 else old + self._decay * (sample - old)

    def in_flight(self, item: T) -> int:
        return self._in_flight[self._index[id(item)]]
