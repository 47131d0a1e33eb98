"""The CRDs in manifests/crds/ are current, valid apiextensions.k8s.io/v1 objects with structural schemas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from smi.crds import build_crds, render_files
from smi.model.parsing import parse
from smi.model.rendering import render
from smi.schemas import SERVED

CRD_DIR = Path(__file__).resolve().parents[2] / "manifests" / "crds"
EXPECTED = {
    "TrafficSplit": ("trafficsplits", "split.smi-spec.io", "ts", ["v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"]),
    "TrafficTarget": ("traffictargets", "access.smi-spec.io", "tt", ["v1alpha1", "v1alpha2", "v1alpha3"]),
    "HTTPRouteGroup": ("httproutegroups", "specs.smi-spec.io", "htr", ["v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"]),
    "TCPRoute": ("tcproutes", "specs.smi-spec.io", "tr", ["v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"]),
    "UDPRoute": ("udproutes", "specs.smi-spec.io", "ur", ["v1alpha4"]),
    "UpstreamTrafficPolicy": ("upstreamtrafficpolicies", "policy.smi-mesh.io", "utp", ["v1alpha1"]),
    "RateLimitPolicy": ("ratelimitpolicies", "policy.smi-mesh.io", "rlp", ["v1alpha1"]),
}
POLICY_KINDS = ("UpstreamTrafficPolicy", "RateLimitPolicy")  # one version each: no conversion webhook
_IN_JUNCTORS_FORBIDDEN = ("type", "description", "default", "additionalProperties", "nullable")


def test_committed_crds_are_up_to_date(update_golden: bool) -> None:
    files = render_files()
    if update_golden:
        CRD_DIR.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (CRD_DIR / name).write_text(text)
    committed = {p.name for p in CRD_DIR.glob("*.yaml")}
    assert committed == set(files), "run: pytest tests/validation/test_crds.py --update-golden"
    for name, text in files.items():
        assert (CRD_DIR / name).read_text() == text, f"{name} is stale; run with --update-golden"


def _structural_violations(node: Any, path: str, *, in_junctor: bool = False) -> list[str]:
    found: list[str] = []
    if not isinstance(node, dict):
        return found
    special = node.get("x-kubernetes-int-or-string") or node.get("x-kubernetes-preserve-unknown-fields")
    if not in_junctor and "type" not in node and not special:
        found.append(f"{path}: no type")
    if "properties" in node and "additionalProperties" in node:
        found.append(f"{path}: properties together with additionalProperties")
    if node.get("additionalProperties") is False:
        found.append(f"{path}: additionalProperties: false")
    if in_junctor:
        found += [f"{path}: {key} inside anyOf/allOf/oneOf/not" for key in _IN_JUNCTORS_FORBIDDEN if key in node]
    for key, value in node.items():
        if key.startswith("x-") and key not in ("x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields"):
            found.append(f"{path}: unknown extension {key}")
        if key == "properties":
            for name, child in value.items():
                found += _structural_violations(child, f"{path}.{name}")
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            found += _structural_violations(value, f"{path}.{key}")
        elif key in ("anyOf", "allOf", "oneOf"):
            if node.get("x-kubernetes-int-or-string"):
                if value != [{"type": "integer"}, {"type": "string"}]:
                    found.append(f"{path}: int-or-string anyOf must be exactly integer|string")
                continue
            for i, child in enumerate(value):
                found += _structural_violations(child, f"{path}.{key}[{i}]", in_junctor=True)
    return found


@pytest.mark.parametrize("crd", build_crds(), ids=lambda c: c["spec"]["names"]["kind"])
def test_crd_follows_the_apiextensions_v1_rules(crd: dict[str, Any]) -> None:
    spec = crd["spec"]
    kind = spec["names"]["kind"]
    plural, group, short, versions = EXPECTED[kind]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1" and crd["kind"] == "CustomResourceDefinition"
    assert crd["metadata"]["name"] == f"{plural}.{group}" == f"{spec['names']['plural']}.{spec['group']}"
    assert spec["names"] == {**spec["names"], "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"}
    assert spec["names"]["shortNames"] == [short]
    assert [v["name"] for v in spec["versions"]] == versions
    assert all(v["served"] for v in spec["versions"])
    assert [v["name"] for v in spec["versions"] if v["storage"]] == [versions[-1]]
    if kind in POLICY_KINDS:
        assert spec["conversion"] == {"strategy": "None"}
    else:
        assert spec["conversion"]["strategy"] == "Webhook"
        assert spec["conversion"]["webhook"]["clientConfig"]["service"] == {
            "namespace": "smi-system",
            "name": "smi-controller",
            "path": "/convert",
            "port": 443,
        }
    for version in spec["versions"]:
        schema = version["schema"]["openAPIV3Schema"]
        assert schema["type"] == "object"
        assert _structural_violations(schema, version["name"]) == []
        assert schema["properties"]["metadata"] == {"type": "object"}
        assert version["subresources"] == {"status": {}}
        status = schema["properties"]["status"]["properties"]["conditions"]["items"]["properties"]
        assert {"type", "status", "reason", "message", "lastTransitionTime", "observedGeneration"} <= set(status)
        columns = {c["name"] for c in version["additionalPrinterColumns"]}
        assert "Age" in columns
        if kind == "TrafficSplit":
            assert {"Service", "Backends"} <= columns
        if kind == "TrafficTarget":
            assert {"Destination", "Sources"} <= columns
        if kind in POLICY_KINDS:
            assert {"Target", "Port", "Accepted"} <= columns


def test_preserve_unknown_fields_only_on_headers() -> None:
    documents = [yaml.safe_load(text) for text in render_files().values()]
    hits: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if node.get("x-kubernetes-preserve-unknown-fields"):
                hits.append(path.rsplit(".", 1)[-1])
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for item in node:
                walk(item, path)

    walk(documents, "")
    assert hits and set(hits) == {"headers"}


def test_crd_schemas_accept_what_we_render() -> None:
    """Every version's CRD schema accepts our own rendering of a sample object."""
    samples = {
        "TrafficSplit": {
            "apiVersion": "split.smi-spec.io/v1alpha4",
            "kind": "TrafficSplit",
            "metadata": {"name": "s", "namespace": "default"},
            "spec": {
                "service": "web",
                "matches": [{"kind": "HTTPRouteGroup", "name": "r"}],
                "backends": [{"service": "a", "weight": 1}, {"service": "b", "weight": 2}],
            },
        },
        "TrafficTarget": {
            "apiVersion": "access.smi-spec.io/v1alpha3",
            "kind": "TrafficTarget",
            "metadata": {"name": "t"},
            "spec": {
                "destination": {"kind": "ServiceAccount", "name": "api"},
                "rules": [{"kind": "HTTPRouteGroup", "name": "r", "matches": ["m"]}],
                "sources": [{"kind": "ServiceAccount", "name": "c", "namespace": "x"}],
            },
        },
        "HTTPRouteGroup": {
            "apiVersion": "specs.smi-spec.io/v1alpha4",
            "kind": "HTTPRouteGroup",
            "metadata": {"name": "r"},
            "spec": {"matches": [{"name": "m", "pathRegex": "/x", "methods": ["GET"], "headers": {"a": "b"}}]},
        },
        "TCPRoute": {
            "apiVersion": "specs.smi-spec.io/v1alpha4",
            "kind": "TCPRoute",
            "metadata": {"name": "r"},
            "spec": {"matches": {"ports": [80]}},
        },
        "UDPRoute": {
            "apiVersion": "specs.smi-spec.io/v1alpha4",
            "kind": "UDPRoute",
            "metadata": {"name": "r"},
            "spec": {"matches": {"ports": []}},
        },
    }
    for crd in build_crds():
        kind = crd["spec"]["names"]["kind"]
        if kind in POLICY_KINDS:
            continue  # one version, not rendered: tests/resilience/test_policy_kinds.py checks its CRDs
        obj = parse(samples[kind])
        for version in crd["spec"]["versions"]:
            api_version = f"{crd['spec']['group']}/{version['name']}"
            assert api_version in SERVED[kind]
            raw = render(obj, api_version=api_version)
            errors = list(Draft202012Validator(version["schema"]["openAPIV3Schema"]).iter_errors(raw))
            assert not errors, f"{kind} {version['name']}: {errors[0].message}"
