"""Bounded waits: poll a condition until it holds or a deadline passes.

The mesh converges asynchronously (a saved object is compiled and pushed to the sidecars),
so every step that changes something waits for what a user would see, with a bound, and
fails with what it last saw.  There are no sleeps standing in for synchronisation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class ConvergenceTimeout(AssertionError):
    """The mesh did not reach the expected state in time (the message says what was seen)."""


def wait_until(
    what: str,
    check: Callable[[], T | None],
    *,
    timeout: float,
    every: float = 0.1,
    seen: Callable[[], object] | None = None,
) -> T:
    """``check()`` until it returns something truthy, at most ``timeout`` seconds.

    Exceptions from ``check`` count as "not yet" (e.g. a pod not up); the last one, and
    ``seen()`` if given, are in the failure's message.
    """
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            value = check()
        except Exception as exc:
            last = exc
            value = None
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(every)  # the polling interval of a bounded wait
    detail = f"; last error: {last}" if last else ""
    if seen is not None:
        detail += f"; last seen: {seen()}"
    raise ConvergenceTimeout(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
