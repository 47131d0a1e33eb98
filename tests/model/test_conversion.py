"""Conversion rules: weights, preserved fields, strict mode, and the ConversionReview webhook."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from smi.errors import ConversionError, InvalidObject
from smi.model._quantity import QuantityError, format_weight, parse_weight, whole_weights
from smi.model.conversion import convert, convert_review
from smi.model.parsing import parse
from smi.model.rendering import render

SPLIT_V1: dict[str, Any] = {
    "apiVersion": "split.smi-spec.io/v1alpha1",
    "kind": "TrafficSplit",
    "metadata": {
        "name": "rollout",
        "namespace": "shop",
        "resourceVersion": "7",
        "creationTimestamp": "2024-01-01T00:00:00Z",
    },
    "spec": {"service": "web", "backends": [{"service": "v1", "weight": "1"}, {"service": "v2", "weight": "500m"}]},
    "status": {"conditions": [{"type": "Accepted", "status": "True"}]},
}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("10m", "0.01"),
        ("1500m", "1.5"),
        ("1", "1"),
        ("0m", "0"),
        (3, "3"),
        ("1k", "1000"),
        ("1Ki", "1024"),
        ("1e3", "1000"),
        ("2.5E-1", "0.25"),
        (".5", "0.5"),
        ("100u", "0.0001"),
        ("+2", "2"),
        (1.5, "1.5"),
        (0.25, "0.25"),
        (0.1, "0.1"),
        (2.5e3, "2500"),
        (1e-3, "0.001"),
        (7.0, "7"),
    ],
)
def test_quantities_parse_exactly(text: Any, value: str) -> None:
    assert parse_weight(text) == Decimal(value)
    assert parse_weight(format_weight(parse_weight(text))) == Decimal(value)


@pytest.mark.parametrize(
    "text",
    [
        "-1",
        "-500m",
        "abc",
        "1.2.3",
        "",
        "1x",
        "NaN",
        "inf",
        "1E",
        "1e40",
        True,
        None,
        -1.5,
        float("nan"),
        float("inf"),
        1e40,
        [1],
    ],
)
def test_bad_quantities_are_refused(text: Any) -> None:
    with pytest.raises(QuantityError):
        parse_weight(text)


def test_whole_weights_keep_ratios() -> None:
    assert whole_weights((Decimal("0.01"), Decimal("0.1"), Decimal("1.5"))) == (1, 10, 150)
    assert whole_weights((Decimal(1), Decimal("0.5"))) == (2, 1)
    assert whole_weights((Decimal(90), Decimal(10))) == (90, 10)


def test_v1alpha1_to_v1alpha2_scales_and_preserves() -> None:
    result = convert(SPLIT_V1, to="split.smi-spec.io/v1alpha2")
    assert [b["weight"] for b in result.raw["spec"]["backends"]] == [2, 1]
    assert result.preserved == {"spec.backends[].weight": ["1", "0.5"]}
    assert parse(result.raw).backends == parse(SPLIT_V1).backends


def test_edited_weights_win_over_stale_preserved_ones() -> None:
    raw = convert(SPLIT_V1, to="split.smi-spec.io/v1alpha2").raw
    raw["spec"]["backends"][1]["weight"] = 3
    weights = [b.weight for b in parse(raw).backends]
    assert weights == [Decimal(2), Decimal(3)]


def test_strict_render_refuses_loss() -> None:
    target = parse(
        {
            "apiVersion": "access.smi-spec.io/v1alpha2",
            "kind": "TrafficTarget",
            "metadata": {"name": "t"},
            "spec": {
                "destination": {"kind": "ServiceAccount", "name": "api", "port": 8080},
                "rules": [{"kind": "TCPRoute", "name": "r"}],
                "sources": [{"kind": "ServiceAccount", "name": "c"}],
            },
        }
    )
    with pytest.raises(ConversionError, match=r"spec\.destination\.port") as caught:
        render(target, api_version="access.smi-spec.io/v1alpha3", strict=True)
    assert caught.value.fields == ("spec.destination.port",)
    lenient = render(target, api_version="access.smi-spec.io/v1alpha3")
    assert json.loads(lenient["metadata"]["annotations"]["smi-mesh.io/preserved-fields"]) == {
        "spec.destination.port": 8080
    }
    assert parse(lenient).destination_port == 8080
    with pytest.raises(ConversionError, match="cannot be rendered"):
        render(target, api_version="split.smi-spec.io/v1alpha4")


def test_tampered_preserved_annotation_is_a_clear_error() -> None:
    raw = convert(SPLIT_V1, to="split.smi-spec.io/v1alpha2").raw
    raw["metadata"]["annotations"]["smi-mesh.io/preserved-fields"] = '{"spec.matches": 5}'
    with pytest.raises(InvalidObject, match=r"preserved field 'spec.matches' has the wrong shape"):
        parse(raw)


def test_conversion_review_converts_and_keeps_metadata_and_status() -> None:
    review = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "ConversionReview",
        "request": {"uid": "abc", "desiredAPIVersion": "split.smi-spec.io/v1alpha4", "objects": [SPLIT_V1]},
    }
    response = convert_review(review)["response"]
    assert response["uid"] == "abc" and response["result"] == {"status": "Success"}
    (converted,) = response["convertedObjects"]
    assert converted["apiVersion"] == "split.smi-spec.io/v1alpha4"
    assert converted["metadata"]["creationTimestamp"] == "2024-01-01T00:00:00Z"
    assert converted["metadata"]["resourceVersion"] == "7"
    assert converted["status"] == SPLIT_V1["status"]
    assert "smi-mesh.io/preserved-fields" in converted["metadata"]["annotations"]
    back = convert_review(
        {"request": {"uid": "x", "desiredAPIVersion": "split.smi-spec.io/v1alpha1", "objects": [converted]}}
    )["response"]["convertedObjects"][0]
    assert back["spec"] == {
        "service": "web",
        "backends": [{"service": "v1", "weight": 1}, {"service": "v2", "weight": "500m"}],
    }
    assert "annotations" not in back["metadata"]


@pytest.mark.parametrize(
    "review",
    [
        {},
        {"request": None},
        {"request": {"uid": "u"}},
        {
            "request": {
                "uid": "u",
                "desiredAPIVersion": "split.smi-spec.io/v1alpha2",
                "objects": [{"kind": "TrafficSplit"}],
            }
        },
    ],
)
def test_conversion_review_failures_are_answers(review: dict[str, Any]) -> None:
    response = convert_review(review)["response"]
    assert response["result"]["status"] == "Failure" and response["result"]["message"]
