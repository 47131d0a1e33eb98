"""The one bounded wait of the test suite: poll a condition until it holds, or fail at a deadline.

No sleep stands in for synchronisation: a test waits for what a user would see, with a
bound, and fails saying what it waited for (and what it last saw).  The pauses below are
only the polling interval of such a wait.

* ``wait_until(condition)`` (async): ``condition()`` may return a bool or an awaitable one.
* ``wait_for_value(probe, accept)`` (async): ``await probe()`` until ``accept(value)``; returns the value.
* ``wait_for(what, check)`` (blocking, for threads and plain tests): ``check()`` until it
  returns something truthy (exceptions count as "not yet"); returns it.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]], *, within: float = 10.0, what: str = "", every: float = 0.01
) -> None:
    """Poll ``condition`` until it is true; AssertionError after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what or condition}")
        await asyncio.sleep(every)  # the polling interval of a bounded wait


async def wait_for_value(
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], *, what: str, within: float = 15.0
) -> T:
    """``await probe()`` until ``accept`` takes its value; AssertionError (with the last value) at the bound."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}; last value: {value!r}")
        await asyncio.sleep(0.02)  # the polling interval of a bounded wait


def wait_for(what: str, check: Callable[[], T | None], *, within: float = 30.0, every: float = 0.05) -> T:
    """Call ``check`` until it returns something truthy; AssertionError after ``within`` seconds."""
    deadline = time.monotonic() + within
    last: Exception | None = None
    while True:
        try:
            value = check()
        except Exception as exc:  # e.g. an API not up yet: not yet
            last = exc
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f" (last error: {last})" if last else ""
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}{detail}")
        time.sleep(every)  # the polling interval of a bounded wait
