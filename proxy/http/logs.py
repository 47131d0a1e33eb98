"""Rate-limited logging for what clients can cause many times a second (503, 504, 400, refusals).

Per kind (``key``): the first ``burst`` lines of each ``period`` are logged, the rest counted
and summed up in the next line of that kind ("... (37 more like this suppressed)").  A log
line per bad request would be a log-flooding vector; none at all would hide the problem.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class LogLimiter:
    def __init__(self, *, burst: int = 5, period: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self.period = period
        self.clock = clock
        self._windows: dict[str, tuple[float, int, int]] = {}  # key -> (window start, logged, suppressed)

    def log(self, logger: logging.Logger, level: int, message: str, key: str = "") -> bool:
        """Log ``message`` unless its kind is over its rate; True when it was logged."""
        if not logger.isEnabledFor(level):
            return False
        now = self.clock()
        start, logged, suppressed = self._windows.get(key, (now, 0, 0))
        if now - start >= self.period:
            start, logged = now, 0
        if logged >= self.burst:
            self._windows[key] = (start, logged, suppressed + 1)
            return False
        if suppressed:
            message += f" ({suppressed} more like this suppressed)"
        self._windows[key] = (start, logged + 1, 0)
        if len(self._windows) > 256:
            self._windows.clear()  # keys come from a fixed set; this only bounds a bug
        logger.log(level, "%s", message)
        return True


default_limiter = LogLimiter()

__all__ = ["LogLimiter", "default_limiter"]
