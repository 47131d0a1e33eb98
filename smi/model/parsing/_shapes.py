"""Tolerant readers for raw manifest values that may be ill-formed.

The builders run their semantic checks even when the schema found errors elsewhere in the
object, so they read every value through these helpers: a value of the wrong type reads as
"absent" (the schema has already reported it), never as a crash.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_EMPTY: Mapping[str, Any] = {}


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else _EMPTY


def sequence(value: Any) -> list[Any]:
    """``value`` when it is a list, else an empty list."""
    return value if isinstance(value, list) else []


def text(value: Any) -> str | None:
    """``value`` when it is a string, else None."""
    return value if isinstance(value, str) else None


def whole(value: Any) -> int | None:
    """``value`` when it is an integer (not a boolean; ``80.0`` counts), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def strings(value: Any) -> tuple[str, ...]:
    """The string items of a list (others are skipped)."""
    return tuple(item for item in sequence(value) if isinstance(item, str))
