"""Bounded history of one sidecar's counters, and the change over a window (pure, no I/O).

Each scrape is a snapshot: the time and one flat ``array('d')`` holding every edge vector
(``samples.WIDTH`` numbers per edge, edges in first-seen order, so an older snapshot is a
prefix of a newer one's layout).  Snapshots are thinned as they age, so the history reaches
back a little further than the longest window while holding a few dozen snapshots:

* younger than ``FINE``: every scrape;
* younger than 5 minutes: one per 15 s; younger than 15 minutes: one per minute;
* older: one per 5 minutes, up to ``max_window`` plus two of those.

``change(window, now)`` is what each edge's counters did over the window: the newest
snapshot minus the newest snapshot at or before ``now - window``.  With no snapshot that
old (a sidecar first seen inside the window) the baseline is zero: a new sidecar's
counters start at zero.  A counter that went down (the sidecar restarted) counts from zero.
The Prometheus source's queries (``traffic_metrics.promsource``) compute the same thing.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Final

from traffic_metrics.samples import RESPONSES, WIDTH, EdgeKey

FINE: Final = 65.0
_TIERS: Final = ((300.0, 15.0), (900.0, 60.0), (float("inf"), 300.0))


@dataclass(slots=True)
class TargetHistory:
    max_window: float = 3600.0
    keys: list[EdgeKey] = field(default_factory=list)
    slots: dict[EdgeKey, int] = field(default_factory=dict)
    snapshots: list[tuple[float, array[float]]] = field(default_factory=list)  # oldest first

    def add(self, when: float, rows: dict[EdgeKey, list[float]]) -> None:
        for key in rows:
            if key not in self.slots:
                self.slots[key] = len(self.keys)
                self.keys.append(key)
        flat = array("d", bytes(8 * WIDTH * len(self.keys)))
        for key, row in rows.items():
            start = self.slots[key] * WIDTH
            flat[start : start + WIDTH] = array("d", row)
        self.snapshots.append((when, flat))
        self._thin(when)

    def _thin(self, now: float) -> None:
        # Keep the oldest snapshot of each time-aligned slot of its tier's spacing.  Slots nest
        # (15 s in 60 s in 300 s), so a snapshot kept as it ages into a coarser tier was kept in
        # every finer one: thinning never cascades into a gap.
        horizon = self.max_window + 2 * _TIERS[-1][1]
        kept: list[tuple[float, array[float]]] = []
        slots: set[tuple[float, int]] = set()
        for when, flat in self.snapshots:
            age = now - when
            if age > horizon:
                continue
            if age > FINE:
                spacing = next(space for limit, space in _TIERS if age < limit)
                slot = (spacing, int(when // spacing))
                if slot in slots:
                    continue
                slots.add(slot)
            kept.append((when, flat))
        self.snapshots = kept

    @property
    def newest(self) -> float | None:
        return self.snapshots[-1][0] if self.snapshots else None

    def change(self, window: float, now: float) -> dict[EdgeKey, list[float]]:
        """Each edge's counters over ``window`` seconds before ``now`` (edges with no change left out)."""
        if not self.snapshots:
            return {}
        newest = self.snapshots[-1][1]
        baseline: array[float] | None = None
        for when, flat in reversed(self.snapshots):
            if when <= now - window:
                baseline = flat
                break
        out: dict[EdgeKey, list[float]] = {}
        for index, key in enumerate(self.keys):
            start = index * WIDTH
            if start >= len(newest):
                break
            row = newest[start : start + WIDTH].tolist()
            if baseline is not None and start < len(baseline):
                old = baseline[start : start + WIDTH]
                if row[RESPONSES] >= old[RESPONSES] and all(n >= o for n, o in zip(row, old, strict=True)):
                    row = [n - o for n, o in zip(row, old, strict=True)]
            if any(row):
                out[key] = row
        return out

    def memory(self) -> int:
        """Bytes held by the snapshots' numbers (what grows with pods and edges)."""
        return sum(flat.itemsize * len(flat) for _, flat in self.snapshots)
