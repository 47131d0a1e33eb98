"""Weight integerisation: exact ratios, zeros kept, smallest integers."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from math import gcd

import pytest
from hypothesis import given
from hypothesis import strategies as st

from traffic_split.weights import integer_weights


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        (["0.01", "0.1", "1.5"], (1, 10, 150)),  # v1alpha1 10m : 100m : 1500m
        (["0.5", "1"], (1, 2)),  # 500m : 1, mixed suffixes keep their ratio
        (["75", "25"], (3, 1)),
        (["100", "0"], (1, 0)),
        (["0", "0"], (0, 0)),
        (["1E+3", "500"], (2, 1)),
        (["7"], (1,)),
        ([], ()),
    ],
)
def test_examples(weights: list[str], expected: tuple[int, ...]) -> None:
    assert integer_weights([Decimal(w) for w in weights]) == expected


@pytest.mark.parametrize("bad", ["-1", "NaN", "Infinity"])
def test_rejects_negative_and_non_finite(bad: str) -> None:
    with pytest.raises(ValueError, match="weight must be"):
        integer_weights([Decimal("1"), Decimal(bad)])


decimals = st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False, allow_infinity=False)


@given(st.lists(decimals, min_size=1, max_size=6))
def test_ratios_are_exact_and_reduced(weights: list[Decimal]) -> None:
    ints = integer_weights(weights)
    assert len(ints) == len(weights)
    assert all(isinstance(i, int) and i >= 0 for i in ints)
    assert [w == 0 for w in weights] == [i == 0 for i in ints]
    total_w, total_i = sum(weights), sum(ints)
    if total_w:
        assert all(Fraction(w) / Fraction(total_w) == Fraction(i, total_i) for w, i in zip(weights, ints, strict=True))
        assert gcd(*ints) == 1
