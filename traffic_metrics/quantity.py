"""Kubernetes quantity strings and Go duration strings, as the TrafficMetrics JSON carries them.

``quantity(v)`` prints a value the way ``resource.NewMilliQuantity(int64(v*1000), DecimalSI)``
does after canonicalisation: a whole number plainly (``"294"``, ``"0"``), a fraction in
milli units (``"296875m"`` = 296.875), and round large numbers with an SI suffix
(``"2k"``).  NaN and infinities (no traffic, an open-ended bucket) print as ``"0"``: the
reference server's unguarded NaN is a bug, not a format.

``go_duration(seconds)`` prints like Go's ``time.Duration.String()`` (``"30s"``, ``"1m0s"``,
``"1h0m0s"``); ``parse_go_duration`` reads what ``time.ParseDuration`` reads
(``"90s"``, ``"1m30s"``, ``"1.5m"``, ``"500ms"``).
"""

from __future__ import annotations

import math
import re
from typing import Final

_SI: Final = (("E", 10**18), ("P", 10**15), ("T", 10**12), ("G", 10**9), ("M", 10**6), ("k", 10**3))
_PARSE_SI: Final = {**dict(_SI), "": 1, "m": 0.001, "u": 1e-6, "n": 1e-9, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}


def quantity(value: float) -> str:
    """``value`` as a Kubernetes quantity string with milli precision."""
    if not math.isfinite(value):
        return "0"
    milli = round(value * 1000)
    if milli % 1000:
        return f"{milli}m"
    whole = milli // 1000
    if whole == 0:
        return "0"
    for suffix, size in _SI:
        if whole % size == 0:
            return f"{whole // size}{suffix}"
    return str(whole)


_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|[EPTGMkmun]?)$")


def parse_quantity(text: str) -> float:
    """A quantity string as a float (``"296875m"`` → 296.875); ValueError when it is not one."""
    match = _QUANTITY.match(text.strip())
    if match is None:
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    return float(match.group(1)) * _PARSE_SI[match.group(2)]


_UNITS: Final = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)")


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration string; ValueError naming the text when it is not one."""
    raw = text.strip()
    if raw in ("0", "+0", "-0"):
        return 0.0
    sign = -1.0 if raw.startswith("-") else 1.0
    body = raw.lstrip("+-")
    pos, total = 0, 0.0
    while pos < len(body):
        match = _PART.match(body, pos)
        if match is None:
            raise ValueError(f"not a duration: {text!r} (examples: 30s, 1m, 1m30s, 1h)")
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not body:
        raise ValueError(f"not a duration: {text!r} (examples: 30s, 1m, 1m30s, 1h)")
    return sign * total


def go_duration(seconds: float) -> str:
    """Go's ``Duration.String()`` for whole and fractional seconds (``"1m0s"``, ``"1.5s"``, ``"500ms"``)."""
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 1:
        ms = seconds * 1000
        return f"{sign}{_trim(ms)}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{_trim(secs)}s"
    if hours or minutes:
        text = f"{int(minutes)}m{text}"
    if hours:
        text = f"{int(hours)}h{text}"
    return sign + text


def _trim(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text or "0"
