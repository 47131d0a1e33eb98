"""The SMI spec's own examples (../shared/smi-spec/examples) are accepted and mean what the spec says.

Most examples omit apiVersion: this test (and only this test) infers it from the folder,
and for specs objects embedded in the access/split documents, from the README's table of
compatible specs versions.  Files that are not complete SMI objects are excluded below,
each with its reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from smi.errors import InvalidObject
from smi.model import HTTPRouteGroup, Service, TCPRoute, TrafficSplit, UDPRoute
from smi.model.parsing import parse
from smi.model.rendering import render

pytestmark = pytest.mark.shared

EXCLUDED = {
    "access.smi-spec.io/v1alpha4": "unreleased DRAFT (IdentityBinding, kind: IdentityBinding subjects)",
    "metrics.smi-spec.io/v1alpha1": "metrics API output and fragments, not SMI config objects",
}
DOC_BUGS = {
    "split.smi-spec.io/v1alpha3/02-ab-test-trafficsplit-with-httproutegroup.yaml": (
        "doc bug: HTTPRouteGroup uses top-level matches although specs v1alpha3 needs spec.matches"
    ),
    "split.smi-spec.io/v1alpha4/02-ab-test-trafficsplit-with-httproutegroup.yaml": (
        "doc bug: HTTPRouteGroup uses top-level matches although specs v1alpha4 needs spec.matches"
    ),
}
WRONG_API_VERSION = {
    "specs.smi-spec.io/v1alpha1/02-httproutegroup-everything.yaml": "doc bug: apiVersion: v1alpha1 without a group",
}
EMBEDDED_SPECS_VERSION = {
    "access.smi-spec.io/v1alpha1": "v1alpha1",
    "access.smi-spec.io/v1alpha2": "v1alpha3",
    "access.smi-spec.io/v1alpha3": "v1alpha4",
    "split.smi-spec.io/v1alpha3": "v1alpha3",
    "split.smi-spec.io/v1alpha4": "v1alpha4",
}
SPECS_KINDS = {"HTTPRouteGroup", "TCPRoute", "UDPRoute"}


def _with_api_version(doc: dict[str, Any], folder: str) -> dict[str, Any]:
    if "apiVersion" in doc:
        return doc
    group = folder.partition("/")[0]
    if doc.get("kind") in SPECS_KINDS and group != "specs.smi-spec.io":
        return {"apiVersion": f"specs.smi-spec.io/{EMBEDDED_SPECS_VERSION[folder]}", **doc}
    return {"apiVersion": folder, **doc}


def _example_files(shared: Path) -> list[tuple[str, Path]]:
    root = shared / "smi-spec" / "examples"
    return [(str(p.relative_to(root)), p) for p in sorted(root.glob("*/*/*.yaml"))]


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _complete_examples(shared: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(file name, document with its apiVersion) of every example not known to be broken."""
    for name, path in _example_files(shared):
        folder = name.rsplit("/", 1)[0]
        if folder in EXCLUDED or name in DOC_BUGS or name in WRONG_API_VERSION:
            continue
        for doc in _documents(path):
            yield name, _with_api_version(doc, folder)


def test_every_complete_example_is_accepted(shared_dir: Path) -> None:
    accepted = 0
    for name, doc in _complete_examples(shared_dir):
        parse(doc, source=name)
        accepted += 1
    assert accepted >= 80


@pytest.mark.parametrize("name", sorted(DOC_BUGS))
def test_doc_bug_route_group_rejected_but_split_accepted(shared_dir: Path, name: str) -> None:
    folder = name.rsplit("/", 1)[0]
    split_doc, routes_doc = _documents(shared_dir / "smi-spec" / "examples" / name)
    assert isinstance(parse(_with_api_version(split_doc, folder)), TrafficSplit)
    with pytest.raises(InvalidObject) as caught:
        parse(_with_api_version(routes_doc, folder), source=name)
    paths = {p.path for p in caught.value.problems}
    assert {"matches", "spec"} <= paths
    assert "belongs under 'spec'" in str(caught.value)


def test_group_less_api_version_is_rejected_then_accepted_when_fixed(shared_dir: Path) -> None:
    (name,) = WRONG_API_VERSION
    (doc,) = _documents(shared_dir / "smi-spec" / "examples" / name)
    with pytest.raises(InvalidObject, match=r"must be group/version, e\.g\. specs\.smi-spec\.io/v1alpha1"):
        parse(doc)
    assert isinstance(parse({**doc, "apiVersion": "specs.smi-spec.io/v1alpha1"}), HTTPRouteGroup)


def _load(shared: Path, name: str, index: int = 0) -> Any:
    folder = name.rsplit("/", 1)[0]
    return parse(_with_api_version(_documents(shared / "smi-spec" / "examples" / name)[index], folder))


def test_v1alpha1_milli_weights_keep_their_ratios(shared_dir: Path) -> None:
    split = _load(shared_dir, "split.smi-spec.io/v1alpha1/01-spec-trafficsplit-my-weights-milli-weights.yaml")
    assert [b.weight for b in split.backends] == [Decimal("0.01"), Decimal("0.1"), Decimal("1.5")]
    shift = _load(shared_dir, "split.smi-spec.io/v1alpha1/05-workflow-2-foobar-rollout-shift.yaml")
    total = sum(b.weight for b in shift.backends)
    assert shift.backends[1].weight / total == Decimal(1) / Decimal(3)  # "~33% to v2"


def test_empty_ports_mean_all_ports(shared_dir: Path) -> None:
    tcp = _load(shared_dir, "specs.smi-spec.io/v1alpha4/07-tcproute-all-ports.yaml")
    udp = _load(shared_dir, "specs.smi-spec.io/v1alpha4/09-udproute-all-ports.yaml")
    assert isinstance(tcp, TCPRoute) and tcp.ports == ()
    assert isinstance(udp, UDPRoute) and udp.ports == ()
    some = _load(shared_dir, "specs.smi-spec.io/v1alpha4/06-tcproute-ports.yaml")
    assert some.ports == (3306, 6446)


def test_header_map_equals_header_list(shared_dir: Path) -> None:
    doc = _documents(
        shared_dir / "smi-spec" / "examples" / "specs.smi-spec.io/v1alpha4/03-headers-android-insiders.yaml"
    )[0]
    as_map = parse({"apiVersion": "specs.smi-spec.io/v1alpha4", **doc})
    listed = {
        **doc,
        "spec": {
            "matches": [
                {**m, "headers": [{k: v} for k, v in m.get("headers", {}).items()]} for m in doc["spec"]["matches"]
            ]
        },
    }
    assert parse({"apiVersion": "specs.smi-spec.io/v1alpha4", **listed}) == as_map


def test_service_examples_are_read(shared_dir: Path) -> None:
    service = _load(shared_dir, "split.smi-spec.io/v1alpha1/02-ports-valid-services-birds.yaml", 2)
    assert isinstance(service, Service)
    assert [(p.name, p.port, p.target_port) for p in service.ports] == [("grpc", 8080, 8081), ("rest", 9090, None)]


UPSTREAM = {
    "TrafficSplit": "split.yaml",
    "TrafficTarget": "access.yaml",
    "HTTPRouteGroup": "httproutegroup.yaml",
    "TCPRoute": "tcproute.yaml",
    "UDPRoute": "udproute.yaml",
}


def test_our_rendering_of_the_newest_version_is_valid_upstream(shared_dir: Path) -> None:
    """What we write for the newest version also passes smi-sdk-go's own CRD schema."""
    checked = 0
    for name, doc in _complete_examples(shared_dir):
        obj = parse(doc)
        kind = type(obj).KIND
        if kind not in UPSTREAM:
            continue
        crd = yaml.safe_load((shared_dir / "smi-spec/upstream-crds/smi-sdk-go-main" / UPSTREAM[kind]).read_text())
        served = next(v for v in crd["spec"]["versions"] if v["served"])
        raw = render(obj, api_version=f"{crd['spec']['group']}/{served['name']}")
        errors = list(Draft202012Validator(served["schema"]["openAPIV3Schema"]).iter_errors(raw))
        assert not errors, f"{name}: {errors[0].message}"
        checked += 1
    assert checked >= 50
