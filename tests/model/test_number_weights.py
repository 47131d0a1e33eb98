"""TrafficSplit v1alpha1 weights written as YAML/JSON numbers with a fraction or exponent."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from smi.crds import build_crd
from smi.loading import load_text
from smi.model.conversion import convert
from smi.model.parsing import check, parse

SPLIT = """\
apiVersion: split.smi-spec.io/v1alpha1
kind: TrafficSplit
metadata:
  name: s
spec:
  service: web
  backends:
  - service: a
    weight: {a}
  - service: b
    weight: {b}
"""


def _raw(a: str, b: str) -> dict[str, Any]:
    (document,) = load_text(SPLIT.format(a=a, b=b), source="s.yaml")
    assert document.raw is not None
    return document.raw


@pytest.mark.parametrize(
    ("a", "b", "weights"),
    [
        ("1.5", "0.25", ("1.5", "0.25")),
        ("0.1", "0.2", ("0.1", "0.2")),
        ("2.5e3", "1.0e-3", ("2500", "0.001")),
        ("1e3", "7.0", ("1000", "7")),
        ("'1.5'", "500m", ("1.5", "0.5")),
    ],
)
def test_number_weights_are_read_exactly(a: str, b: str, weights: tuple[str, str]) -> None:
    split = parse(_raw(a, b))
    assert tuple(backend.weight for backend in split.backends) == tuple(Decimal(w) for w in weights)


def test_json_numbers_too() -> None:
    raw = json.loads(json.dumps(_raw("1", "1")).replace('"weight": 1}', '"weight": 0.3}', 1))
    assert parse(raw).backends[0].weight == Decimal("0.3")


@pytest.mark.parametrize(("b", "reason"), [(".nan", "finite"), ("-.inf", "finite"), ("-0.5", "must be >= 0")])
def test_nan_infinity_and_negative_numbers_are_refused(b: str, reason: str) -> None:
    obj, problems = check(_raw("1", b))
    assert obj is None
    assert [p.path for p in problems if p.is_error] == ["spec.backends[1].weight"]
    assert reason in problems[0].message


def test_a_fractional_number_warns_that_the_api_server_refuses_it() -> None:
    problems = check(_raw("2.5e3", "0.25")).problems
    assert [(p.path, p.severity) for p in problems] == [("spec.backends[1].weight", "warning")]
    assert "the API server rejects it" in problems[0].message and "'0.25'" in problems[0].message


def test_the_crd_keeps_int_or_string() -> None:
    schema = build_crd("TrafficSplit")["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    weight = schema["properties"]["spec"]["properties"]["backends"]["items"]["properties"]["weight"]
    assert weight["x-kubernetes-int-or-string"] is True
    assert weight["anyOf"] == [{"type": "integer"}, {"type": "string"}]


def test_conversion_keeps_the_ratios_and_the_exact_numbers() -> None:
    result = convert(_raw("1.5", "0.25"), to="split.smi-spec.io/v1alpha4")
    assert [b["weight"] for b in result.raw["spec"]["backends"]] == [6, 1]
    back = parse(result.raw)
    assert [b.weight for b in back.backends] == [Decimal("1.5"), Decimal("0.25")]
