"""The injected clock and random source every decision object takes."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeAlias

Clock: TypeAlias = Callable[[], float]
"""Monotonic seconds (``time.monotonic`` in the sidecar, a hand-driven counter in tests)."""

Uniform: TypeAlias = Callable[[], float]
"""A random number in [0, 1) (``random.random`` in the sidecar, fixed values in tests)."""

MONOTONIC: Clock = time.monotonic
RANDOM: Uniform = random.random


class ManualClock:
    """A clock that only moves when told to (for tests and benchmarks)."""

    __slots__ = ("now",)

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
