"""Nothing crashes on bad input: parse() raises only InvalidObject, check() never raises."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import smi.model.parsing
from smi.checking.problems import Problem
from smi.errors import InvalidObject
from smi.model.parsing import check, parse

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=30,
)

VALID: list[dict[str, Any]] = [
    {
        "apiVersion": "split.smi-spec.io/v1alpha1",
        "kind": "TrafficSplit",
        "metadata": {"name": "s"},
        "spec": {"service": "web", "backends": [{"service": "a", "weight": "500m"}]},
    },
    {
        "apiVersion": "split.smi-spec.io/v1alpha4",
        "kind": "TrafficSplit",
        "metadata": {"name": "s"},
        "spec": {
            "service": "web",
            "matches": [{"kind": "HTTPRouteGroup", "name": "r"}],
            "backends": [{"service": "a", "weight": 1}],
        },
    },
    {
        "apiVersion": "access.smi-spec.io/v1alpha1",
        "kind": "TrafficTarget",
        "metadata": {"name": "t"},
        "destination": {"kind": "ServiceAccount", "name": "api", "port": 80},
        "specs": [{"kind": "HTTPRouteGroup", "name": "r", "matches": ["m"]}],
        "sources": [{"kind": "ServiceAccount", "name": "c"}],
    },
    {
        "apiVersion": "access.smi-spec.io/v1alpha3",
        "kind": "TrafficTarget",
        "metadata": {"name": "t"},
        "spec": {
            "destination": {"kind": "ServiceAccount", "name": "api"},
            "rules": [{"kind": "UDPRoute", "name": "r"}],
            "sources": [{"kind": "ServiceAccount", "name": "c"}],
        },
    },
    {
        "apiVersion": "specs.smi-spec.io/v1alpha4",
        "kind": "HTTPRouteGroup",
        "metadata": {"name": "r"},
        "spec": {"matches": [{"name": "m", "pathRegex": "/a", "methods": ["GET"], "headers": [{"a": "b"}]}]},
    },
    {
        "apiVersion": "specs.smi-spec.io/v1alpha2",
        "kind": "HTTPRouteGroup",
        "metadata": {"name": "r"},
        "matches": [{"name": "m", "headers": {"a": "b"}}],
    },
    {
        "apiVersion": "specs.smi-spec.io/v1alpha4",
        "kind": "TCPRoute",
        "metadata": {"name": "r"},
        "spec": {"matches": {"ports": [80]}},
    },
    {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "annotations": {"smi-mesh.io/inbound-port": "15001"}},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "env": [{"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
                    "ports": [{"containerPort": 80}],
                }
            ]
        },
        "status": {"podIP": "10.0.0.1", "conditions": [{"type": "Ready", "status": "True"}]},
    },
    {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "e", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.0.0.1"], "targetRef": {"kind": "Pod", "name": "p"}}],
        "ports": [{"port": 80}],
    },
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http", "appProtocol": "http"}]},
    },
]


@pytest.fixture(autouse=True)
def builders_must_not_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    """The builders read ill-formed parts tolerantly: turn off the parser's last-resort guard."""
    monkeypatch.setattr(smi.model.parsing, "TOLERATED_BUILD_ERRORS", ())


def _parse_only_invalid_object(raw: Any) -> None:
    try:
        parse(raw, source="fuzz.yaml")
    except InvalidObject as exc:
        assert exc.problems and all(isinstance(p, Problem) for p in exc.problems)
        assert str(exc)


def test_the_valid_seeds_are_valid() -> None:
    for raw in VALID:
        parse(raw)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_values_never_crash(raw: Any) -> None:
    _parse_only_invalid_object(raw)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(VALID), st.data())
def test_mutated_valid_objects_never_crash(seed: dict[str, Any], data: st.DataObject) -> None:
    raw = copy.deepcopy(seed)
    node: Any = raw
    for _ in range(data.draw(st.integers(0, 5))):
        if isinstance(node, dict) and node:
            key = data.draw(st.sampled_from(sorted(node)))
            if not isinstance(node[key], dict | list) or data.draw(st.booleans()):
                node[key] = data.draw(json_values)
                break
            node = node[key]
        elif isinstance(node, list) and node:
            index = data.draw(st.integers(0, len(node) - 1))
            if not isinstance(node[index], dict | list) or data.draw(st.booleans()):
                node[index] = data.draw(json_values)
                break
            node = node[index]
    _parse_only_invalid_object(raw)


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "text",
        42,
        [],
        [{"kind": "TrafficSplit"}],
        {},
        {"kind": None},
        {"kind": ["x"]},
        {"apiVersion": 1, "kind": "TrafficSplit"},
        {"apiVersion": "split.smi-spec.io/v1alpha4", "kind": "TrafficSplit"},
        {"apiVersion": "split.smi-spec.io/v1alpha4", "kind": "TrafficSplit", "metadata": "x"},
        {
            "apiVersion": "split.smi-spec.io/v1alpha4",
            "kind": "TrafficSplit",
            "metadata": {"name": "s"},
            "spec": {"service": "w", "backends": [{"service": "a", "weight": 10**400}]},
        },
        {
            "apiVersion": "split.smi-spec.io/v1alpha1",
            "kind": "TrafficSplit",
            "metadata": {"name": "s"},
            "spec": {"service": "w", "backends": [{"service": "a", "weight": "9" * 5000}]},
        },
        {
            "apiVersion": "split.smi-spec.io/v1alpha1",
            "kind": "TrafficSplit",
            "metadata": {"name": "s"},
            "spec": {"service": "w", "backends": [{"service": "a", "weight": "1e99999"}]},
        },
        {
            "apiVersion": "split.smi-spec.io/v1alpha1",
            "kind": "TrafficSplit",
            "metadata": {"name": "s"},
            "spec": {"service": "w", "backends": [{"service": "a", "weight": float("inf")}]},
        },
        {
            "apiVersion": "split.smi-spec.io/v1alpha4",
            "kind": "TrafficSplit",
            "metadata": {"name": "s", "annotations": {"smi-mesh.io/preserved-fields": "[[[["}},
            "spec": {"service": "w", "backends": []},
        },
    ],
)
def test_edge_cases_are_problems_not_crashes(raw: Any) -> None:
    obj, problems = check(raw, source="edge.yaml")
    assert obj is None and any(p.is_error for p in problems)
    _parse_only_invalid_object(raw)


def test_deeply_nested_junk() -> None:
    junk: Any = "x"
    for _ in range(5000):
        junk = [junk]
    raw = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": junk}}
    _parse_only_invalid_object(raw)
