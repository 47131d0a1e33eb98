"""Kubernetes quantities (``10m``, ``1500m``, ``1``, ``1k``, ``1Ki``, ``1e3``) as exact decimals.

TrafficSplit v1alpha1 weights are quantities.  :func:`parse_weight` reads one exactly into a
:class:`~decimal.Decimal` (a float through its shortest text, never its binary value) and
refuses what a weight cannot be: negative, NaN/infinite, garbage, or absurdly large.
:func:`format_weight` writes a decimal back: whole numbers as integers, exact milli values
as ``500m``, anything else as a plain decimal string (also a valid quantity), so
parse/format round trips are exact.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, localcontext

MAX_WEIGHT = Decimal(2**31 - 1)

_GRAMMAR = re.compile(
    r"""^(?P<sign>[+-]?)
        (?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)
        (?:(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)|[eE](?P<exponent>[+-]?[0-9]{1,4}))?$""",
    re.VERBOSE,
)
_DECIMAL_SI = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SI = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}


class QuantityError(ValueError):
    """The text is not an acceptable weight; ``str()`` is the reason for a problem line."""


def parse_weight(value: object) -> Decimal:
    """A v1alpha1 weight (number or quantity string) as an exact, non-negative Decimal.

    A YAML/JSON number with a fraction or exponent (``1.5``, ``2.5e3``) is read through its
    shortest round-trip text (``repr``), so ``0.1`` is exactly ``Decimal("0.1")``: exact
    for every literal of up to 15 significant digits (longer ones: write a string).
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise QuantityError(f"must be a number or a quantity string such as '500m', got {type(value).__name__}")
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise QuantityError(f"is not a valid quantity: must be a finite number, got {value}")
        number = Decimal(repr(value))
    else:
        text = value.strip()
        if len(text) > 64:
            raise QuantityError("is not a valid quantity (longer than 64 characters)")
        number = _parse_text(text)
    if number < 0:
        raise QuantityError(f"must be >= 0, got {value}")
    if number > MAX_WEIGHT:
        raise QuantityError(f"must be <= {MAX_WEIGHT}, got {value if len(str(value)) < 30 else 'a huge number'}")
    return number


def _parse_text(text: str) -> Decimal:
    match = _GRAMMAR.match(text)
    if match is None:
        raise QuantityError(f"is not a valid quantity (e.g. 1, 500m, 1500m, 1k), got {text!r}")
    sign = -1 if match["sign"] == "-" else 1
    digits = match["number"]
    if len(digits) > 40:
        raise QuantityError(f"has too many digits, got {text!r}")
    with localcontext() as ctx:
        ctx.prec = 120
        base = Decimal(digits) * sign
        if match["exponent"] is not None:
            exponent = int(match["exponent"])
            if exponent > 30:
                raise QuantityError(f"must be <= {MAX_WEIGHT}, got {text!r}")
            if exponent < -30:
                raise QuantityError(f"is too small to be a weight, got {text!r}")
            return base.scaleb(exponent)
        suffix = match["suffix"] or ""
        if suffix in _BINARY_SI:
            return base * (Decimal(2) ** _BINARY_SI[suffix])
        return base.scaleb(_DECIMAL_SI[suffix])


def format_weight(weight: Decimal) -> int | str:
    """The canonical v1alpha1 spelling: ``1`` for whole numbers, ``500m``, else ``0.0005``."""
    if weight == weight.to_integral_value():
        return int(weight)
    milli = weight * 1000
    if milli == milli.to_integral_value():
        return f"{int(milli)}m"
    return format(weight.normalize(), "f")


def decimal_text(weight: Decimal) -> str:
    """A plain decimal string that :func:`parse_weight` reads back exactly."""
    return format(weight.normalize(), "f") if weight != 0 else "0"


def whole_weights(weights: tuple[Decimal, ...]) -> tuple[int, ...]:
    """Integer weights with the same ratios (v1alpha2+ need whole numbers).

    Whole weights are kept as they are.  Otherwise every weight is scaled by the same power
    of ten and the common divisor removed (``10m, 100m, 1500m`` -> ``1, 10, 150``).  If the
    exact result would exceed :data:`MAX_WEIGHT`, the weights are rounded onto 0..1000000,
    which keeps the ratios to six digits; callers preserve the originals.
    """
    if all(w == w.to_integral_value() for w in weights):
        return tuple(int(w) for w in weights)
    places = max(-int(w.normalize().as_tuple().exponent) for w in weights)
    with localcontext() as ctx:
        ctx.prec = 200
        scaled = [int(w.scaleb(places)) for w in weights]
    divisor = 0
    for value in scaled:
        divisor = _gcd(divisor, value)
    exact = tuple(value // divisor for value in scaled) if divisor else tuple(scaled)
    if max(exact, default=0) <= MAX_WEIGHT:
        return exact
    top = max(weights)
    return tuple(int((w * 1_000_000 / top).to_integral_value()) for w in weights)


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a
