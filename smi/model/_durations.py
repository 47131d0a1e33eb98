"""Go-style durations (``250ms``, ``1.5s``, ``1m``, ``1h30m``) as whole milliseconds.

The format OSM and Linkerd use in their resources and annotations.
"""

from __future__ import annotations

import re
from decimal import Decimal

_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_WHOLE = re.compile(r"^(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h))+$")
_MS = {"ms": Decimal(1), "s": Decimal(1000), "m": Decimal(60_000), "h": Decimal(3_600_000)}
MAX_MS = 24 * 3_600_000  # a day: longer is a mistake, not a timeout


class DurationError(ValueError):
    pass


def parse_duration_ms(value: str) -> int:
    """``value`` in whole milliseconds (rounded up); DurationError with the reason otherwise."""
    if not _WHOLE.match(value):
        raise DurationError(f"must be a duration such as '250ms', '1.5s', '1m' or '1h30m', got {value!r}")
    total = sum((Decimal(n) * _MS[unit] for n, unit in _PART.findall(value)), Decimal(0))
    ms = int(total.to_integral_value(rounding="ROUND_CEILING"))
    if ms > MAX_MS:
        raise DurationError(f"must be at most 24h, got {value!r}")
    return ms


def format_ms(ms: int) -> str:
    """The shortest duration text of ``ms`` (for messages and printing)."""
    if ms % 60_000 == 0 and ms:
        return f"{ms // 60_000}m"
    if ms % 1000 == 0 and ms:
        return f"{ms // 1000}s"
    return f"{ms}ms"
