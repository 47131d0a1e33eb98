"""Conversion round trips are lossless for every kind: any version -> any version -> back.

Hub objects are generated with hypothesis, rendered in one version, parsed, rendered in
another, parsed, and rendered back: the result equals the original hub object (apart from
the apiVersion it was last read from).
"""

from __future__ import annotations

import dataclasses
import itertools
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from smi.model import (
    HTTPMatch,
    HTTPRouteGroup,
    IdentityRef,
    ObjectMeta,
    RuleRef,
    SplitBackend,
    TCPRoute,
    TrafficSplit,
    TrafficTarget,
    TypedRef,
    UDPRoute,
)
from smi.model.parsing import parse
from smi.model.rendering import render

names = st.from_regex(r"\A[a-z]([a-z0-9-]{0,10}[a-z0-9])?\Z")
metas = st.builds(
    ObjectMeta,
    name=names,
    namespace=names,
    labels=st.dictionaries(st.from_regex(r"\A[a-z]{1,8}\Z"), st.text(max_size=8), max_size=2),
    annotations=st.dictionaries(st.from_regex(r"\Aexample\.com/[a-z]{1,6}\Z"), st.text(max_size=12), max_size=2),
    generation=st.none() | st.integers(1, 100),
)
weights = st.one_of(
    st.integers(0, 1000).map(Decimal),
    st.decimals(min_value=0, max_value=100, places=3),
    st.decimals(min_value=0, max_value=1, places=7),
)


@st.composite
def splits(draw: Any) -> TrafficSplit:
    services = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    root = draw(names.filter(lambda n: n not in services))
    return TrafficSplit(
        meta=draw(metas),
        service=root,
        backends=tuple(SplitBackend(service=s, weight=draw(weights)) for s in services),
        matches=tuple(
            TypedRef(kind="HTTPRouteGroup", name=n, api_group=draw(st.none() | st.just("specs.smi-spec.io")))
            for n in draw(st.lists(names, max_size=3))
        ),
    )


subjects = st.builds(IdentityRef, kind=st.just("ServiceAccount"), name=names, namespace=st.none() | names)
rules = st.builds(
    RuleRef,
    kind=st.sampled_from(["HTTPRouteGroup", "TCPRoute", "UDPRoute"]),
    name=names,
    matches=st.none() | st.lists(names, max_size=3, unique=True).map(tuple),
)
targets = st.builds(
    TrafficTarget,
    meta=metas,
    destination=subjects,
    sources=st.lists(subjects, min_size=1, max_size=3).map(tuple),
    rules=st.lists(rules, min_size=1, max_size=4).map(tuple),
    destination_port=st.none() | st.integers(1, 65535),
)
regexes = st.sampled_from(["/api", ".*", "/api/.*", "^/v[0-9]+/items$", "(a|b)+", ".*Firefox.*"])


@st.composite
def route_groups(draw: Any) -> HTTPRouteGroup:
    match_names = draw(st.lists(names, max_size=4, unique=True))
    matches = []
    for name in match_names:
        headers = draw(st.dictionaries(st.from_regex(r"\A[a-z][a-z-]{0,10}\Z"), regexes, max_size=3))
        matches.append(
            HTTPMatch(
                name=name,
                path_regex=draw(st.none() | regexes),
                methods=tuple(draw(st.lists(st.sampled_from(["*", "GET", "POST", "PATCH"]), max_size=3))),
                headers=tuple(headers.items()),
            )
        )
    return HTTPRouteGroup(meta=draw(metas), matches=tuple(matches))


ports = st.lists(st.integers(1, 65535), max_size=5, unique=True).map(tuple)
tcp_routes = st.builds(TCPRoute, meta=metas, ports=ports)
udp_routes = st.builds(UDPRoute, meta=metas, ports=ports)


def _assert_round_trips(obj: Any) -> None:
    versions = [f"{obj.GROUP}/{v}" for v in obj.VERSIONS]
    for first, second in itertools.product(versions, repeat=2):
        there = parse(render(obj, api_version=first))
        further = parse(render(there, api_version=second))
        back = parse(render(further, api_version=first))
        for seen in (there, further, back):
            assert dataclasses.replace(seen, api_version=obj.api_version) == obj, (first, second)


@settings(max_examples=60, deadline=None)
@given(splits())
def test_traffic_split_round_trips(obj: TrafficSplit) -> None:
    _assert_round_trips(obj)


@settings(max_examples=60, deadline=None)
@given(targets)
def test_traffic_target_round_trips(obj: TrafficTarget) -> None:
    _assert_round_trips(obj)


@settings(max_examples=60, deadline=None)
@given(route_groups())
def test_http_route_group_round_trips(obj: HTTPRouteGroup) -> None:
    _assert_round_trips(obj)


@settings(max_examples=40, deadline=None)
@given(tcp_routes)
def test_tcp_route_round_trips(obj: TCPRoute) -> None:
    _assert_round_trips(obj)


@settings(max_examples=20, deadline=None)
@given(udp_routes)
def test_udp_route_round_trips(obj: UDPRoute) -> None:
    _assert_round_trips(obj)
