"""Every problem of an object is reported at once, none twice, and ill-formed parts never crash.

The schema check and the semantic checks both run: a negative weight (schema) does not
hide a duplicate backend (semantic), a bad method does not hide a bad regex.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

import smi.model.parsing
from smi.errors import InvalidObject
from smi.model.parsing import check, parse

SPLIT: dict[str, Any] = {
    "apiVersion": "split.smi-spec.io/v1alpha4",
    "kind": "TrafficSplit",
    "metadata": {"name": "web-split"},
    "spec": {
        "service": "web",
        "backends": [
            {"service": "web-v1", "weight": 10},
            {"service": "web-v2", "weight": -5},
            {"service": "web-v1", "weight": 3},
        ],
    },
}
ROUTES: dict[str, Any] = {
    "apiVersion": "specs.smi-spec.io/v1alpha4",
    "kind": "HTTPRouteGroup",
    "metadata": {"name": "api"},
    "spec": {
        "matches": [
            {
                "name": "m",
                "methods": ["GET", "FETCH"],
                "pathRegex": "/(unclosed",
                "headers": {"user-agent": ".*", "User-Agent": "x"},
            }
        ]
    },
}


@pytest.fixture(autouse=True)
def builders_must_not_crash(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Disable the parser's last-resort guard, so a builder crash fails these tests."""
    monkeypatch.setattr(smi.model.parsing, "TOLERATED_BUILD_ERRORS", ())
    yield


def _lines(raw: Any) -> list[str]:
    return [f"{p.path}: {p.message}" for p in check(raw, source="x.yaml").problems]


def test_schema_error_does_not_hide_a_duplicate_backend() -> None:
    assert _lines(SPLIT) == [
        "spec.backends[1].weight: must be >= 0, got -5",
        "spec.backends[2].service: duplicate backend 'web-v1' (also spec.backends[0])",
    ]


def test_bad_method_does_not_hide_the_regex_or_the_duplicate_header() -> None:
    lines = _lines(ROUTES)
    assert len(lines) == 3
    assert lines[0].startswith("spec.matches[0].methods[1]: must be an upper-case HTTP method")
    assert lines[1].startswith("spec.matches[0].pathRegex: invalid regex '/(unclosed'")
    assert (
        lines[2]
        == "spec.matches[0].headers.User-Agent: duplicate header 'user-agent' (header names are case-insensitive)"
    )


def test_parse_still_raises_with_every_error() -> None:
    with pytest.raises(InvalidObject) as caught:
        parse(SPLIT, source="split.yaml")
    assert str(caught.value).splitlines() == [
        "split.yaml: TrafficSplit default/web-split: spec.backends[1].weight: must be >= 0, got -5",
        "split.yaml: TrafficSplit default/web-split: spec.backends[2].service: duplicate backend 'web-v1' "
        "(also spec.backends[0])",
    ]


def test_a_field_the_schema_flagged_is_not_reported_again() -> None:
    routes = copy.deepcopy(ROUTES)
    routes["spec"]["matches"][0] = {"name": "m", "pathRegex": "(" * 1100}
    assert _lines(routes) == ["spec.matches[0].pathRegex: must be at most 1024 characters long, got 1100"]
    split = copy.deepcopy(SPLIT)
    split["apiVersion"] = "split.smi-spec.io/v1alpha1"
    split["spec"]["backends"] = [{"service": "a", "weight": "lots"}, {"service": "b", "weight": "1"}]
    (line,) = _lines(split)
    assert line.startswith("spec.backends[0].weight: must be a number or a quantity string such as '500m'")


def test_an_omitted_weight_reads_as_zero_as_older_flagger_and_argo_write_it() -> None:
    split = copy.deepcopy(SPLIT)
    split["spec"]["backends"] = [{"service": "a", "weight": 1}, {"service": "b"}]
    assert _lines(split) == []
    split["spec"]["backends"] = [{"service": "a", "weight": 0}, {"service": "b"}]
    assert _lines(split) == ["spec.backends: every weight is 0, so no backend receives traffic"]


def _malformed() -> list[dict[str, Any]]:
    """Objects whose parts have the wrong shape, each with one well-formed part that is wrong."""
    cases: list[dict[str, Any]] = []
    split = copy.deepcopy(SPLIT)
    split["spec"]["backends"] += [
        "web-v3",
        None,
        {"service": ["x"], "weight": {}},
        {"service": "Bad_Name", "weight": 1},
    ]
    split["spec"]["matches"] = "all"
    split["metadata"]["labels"] = ["x"]
    cases.append(split)
    routes = copy.deepcopy(ROUTES)
    routes["spec"]["matches"] += [
        7,
        {"name": ["m"], "headers": [{"a": "b", "c": "d"}, "x", {"A": 1}], "methods": "GET"},
        {"name": "m", "pathRegex": 5, "headers": 9},
    ]
    cases.append(routes)
    cases.append(
        {
            "apiVersion": "access.smi-spec.io/v1alpha3",
            "kind": "TrafficTarget",
            "metadata": {"name": "t", "annotations": "no"},
            "spec": {
                "destination": "api",
                "sources": [{"kind": "ServiceAccount", "name": "Bad_Name"}, "x", {"name": 3}],
                "rules": [{"kind": "HTTPRouteGroup", "name": "r", "matches": ["m", 1, "m"]}, []],
            },
        }
    )
    cases.append(
        {
            "apiVersion": "specs.smi-spec.io/v1alpha4",
            "kind": "TCPRoute",
            "metadata": {"name": "r", "generation": "x"},
            "spec": {"matches": {"ports": [80, "http", 80, None, 1.5]}},
        }
    )
    cases.append(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {
                "containers": [{"name": "Bad_Name", "env": ["x", {"name": 1}], "ports": [{"containerPort": "x"}]}]
            },
            "status": {"podIP": "not-an-ip", "conditions": "ready"},
        }
    )
    return cases


@pytest.mark.parametrize("raw", _malformed(), ids=lambda raw: str(raw["kind"]))
def test_semantic_checks_run_beside_ill_formed_parts(raw: dict[str, Any]) -> None:
    obj, problems = check(raw, source="x.yaml")
    assert obj is None
    messages = [f"{p.path}: {p.message}" for p in problems]
    assert len(set(problems)) == len(problems)
    semantic = ("DNS-1123", "duplicate", "listed twice", "IP address")
    assert any(word in m for m in messages for word in semantic), messages
