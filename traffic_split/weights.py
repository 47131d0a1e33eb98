"""Exact integer weights from TrafficSplit weights (Kubernetes quantities or integers).

v1alpha1 weights are quantities (``10m``, ``1500m``, ``1``), held as exact ``Decimal``s.
The proxy wants small integers with the same ratios: scale every weight by the common
power of ten that makes them whole, then divide by their greatest common divisor.  So
``10m : 100m : 1500m`` becomes ``1 : 10 : 150`` and ``50 : 50`` becomes ``1 : 1``;
zeros stay zero.  Unlike smi-sdk-go's converter, mixed suffixes keep their ratio.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from math import gcd


def integer_weights(weights: Sequence[Decimal]) -> tuple[int, ...]:
    """Integers with exactly the ratios of ``weights``; ValueError for a negative or non-finite one."""
    parts: list[tuple[int, int]] = []  # (integer mantissa, power-of-ten exponent)
    for w in weights:
        if not w.is_finite() or w < 0:
            raise ValueError(f"weight must be a finite number >= 0, got {w}")
        _sign, digits, exponent = w.as_tuple()
        assert isinstance(exponent, int)
        mantissa = int("".join(map(str, digits)) or "0")
        parts.append((mantissa, exponent))
    nonzero = [e for m, e in parts if m]
    if not nonzero:
        return tuple(0 for _ in parts)
    low = min(nonzero)
    ints = [m * 10 ** (e - low) if m else 0 for m, e in parts]
    divisor = gcd(*ints)
    return tuple(i // divisor for i in ints)
