"""The CustomResourceDefinitions of every SMI kind, built from :mod:`smi.schemas`.

One CRD per kind (``apiextensions.k8s.io/v1``), every version served, the newest stored,
a conversion webhook (the controller's ``/convert``, answered by
:func:`smi.model.conversion.convert_review`), a status subresource and printer columns.
Each version's ``openAPIV3Schema`` is that version's JSON Schema reduced to what a
structural CRD schema may say: ``additionalProperties: false`` goes (pruning drops unknown
fields), ``x-smi-*`` hints go, ``metadata`` becomes ``type: object``, the map-or-list
``headers`` node keeps only ``x-kubernetes-preserve-unknown-fields``.

``python -m smi.crds [DIR]`` writes them to ``manifests/crds/`` (committed; a test checks
they are current, ``pytest --update-golden`` rewrites them).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from smi.schemas import SERVED, schema_for

CONVERSION_SERVICE = {"namespace": "smi-system", "name": "smi-controller", "path": "/convert", "port": 443}
_ROOT_ONLY = ("apiVersion", "kind", "metadata")
_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


class _Names:
    def __init__(self, kind: str, plural: str, short: str) -> None:
        self.kind, self.plural, self.short = kind, plural, short


NAMES = {
    "TrafficSplit": _Names("TrafficSplit", "trafficsplits", "ts"),
    "TrafficTarget": _Names("TrafficTarget", "traffictargets", "tt"),
    "HTTPRouteGroup": _Names("HTTPRouteGroup", "httproutegroups", "htr"),
    "TCPRoute": _Names("TCPRoute", "tcproutes", "tr"),
    "UDPRoute": _Names("UDPRoute", "udproutes", "ur"),
    "UpstreamTrafficPolicy": _Names("UpstreamTrafficPolicy", "upstreamtrafficpolicies", "utp"),
    "RateLimitPolicy": _Names("RateLimitPolicy", "ratelimitpolicies", "rlp"),
}
_POLICY_KINDS = ("UpstreamTrafficPolicy", "RateLimitPolicy")
_ACCEPTED = {
    "name": "Accepted",
    "type": "string",
    "jsonPath": '.status.conditions[?(@.type=="Accepted")].status',
    "description": "Whether the mesh applies the policy (the reason and message say why not).",
}


def _columns(kind: str, version: str) -> list[dict[str, Any]]:
    spec = (
        ""
        if (kind == "TrafficTarget" and version == "v1alpha1")
        or (kind == "HTTPRouteGroup" and version in ("v1alpha1", "v1alpha2"))
        else ".spec"
    )
    columns: list[dict[str, Any]] = []
    if kind == "TrafficSplit":
        columns = [
            {"name": "Service", "type": "string", "jsonPath": ".spec.service", "description": "The root service."},
            {"name": "Backends", "type": "string", "jsonPath": ".spec.backends[*].service"},
            {"name": "Weights", "type": "string", "jsonPath": ".spec.backends[*].weight"},
            {
                "name": "Accepted",
                "type": "string",
                "jsonPath": '.status.conditions[?(@.type=="Accepted")].status',
                "description": "Whether the split is in effect (the Accepted condition).",
            },
        ]
    elif kind == "TrafficTarget":
        columns = [
            {"name": "Destination", "type": "string", "jsonPath": f"{spec}.destination.name"},
            {"name": "Sources", "type": "string", "jsonPath": f"{spec}.sources[*].name"},
        ]
    elif kind in _POLICY_KINDS:
        columns = [
            {"name": "Target", "type": "string", "jsonPath": ".spec.targetRef.name", "description": "The Service."},
            {"name": "Port", "type": "integer", "jsonPath": ".spec.targetRef.port"},
            dict(_ACCEPTED),
        ]
    elif kind == "HTTPRouteGroup":
        columns = [{"name": "Matches", "type": "string", "jsonPath": f"{spec}.matches[*].name"}]
    elif version == "v1alpha4":
        columns = [{"name": "Ports", "type": "string", "jsonPath": ".spec.matches.ports"}]
    return [*columns, dict(_AGE)]


def structural(node: Any, *, root: bool = False) -> Any:
    """A JSON Schema node reduced to a structural CRD schema node."""
    if isinstance(node, list):
        return [structural(item) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("x-kubernetes-preserve-unknown-fields"):
        kept: dict[str, Any] = {"x-kubernetes-preserve-unknown-fields": True}
        if "description" in node:
            kept["description"] = node["description"]
        return kept
    if node.get("x-kubernetes-int-or-string"):
        kept = {k: v for k, v in node.items() if k in ("description", "x-kubernetes-int-or-string", "pattern")}
        kept["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        return kept
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-smi-") or (key == "additionalProperties" and value is False):
            continue
        out[key] = structural(value)
    if root:
        for key in _ROOT_ONLY:
            out["properties"][key] = {"type": "object"} if key == "metadata" else {"type": "string"}
        required = [r for r in out.get("required", []) if r not in _ROOT_ONLY]
        if required:
            out["required"] = required
        else:
            out.pop("required", None)
    return out


def build_crd(kind: str) -> dict[str, Any]:
    names = NAMES[kind]
    api_versions = SERVED[kind]
    group = api_versions[0].rpartition("/")[0]
    versions = []
    for api_version in api_versions:
        version = api_version.rpartition("/")[2]
        schema = schema_for(kind, api_version)
        assert schema is not None
        versions.append(
            {
                "name": version,
                "served": True,
                "storage": api_version == api_versions[-1],
                "schema": {"openAPIV3Schema": structural(schema, root=True)},
                "subresources": {"status": {}},
                "additionalPrinterColumns": _columns(kind, version),
            }
        )
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{names.plural}.{group}", "labels": {"app.kubernetes.io/part-of": "smi-mesh"}},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": names.plural,
                "singular": kind.lower(),
                "shortNames": [names.short],
                "categories": ["smi-mesh" if kind in _POLICY_KINDS else "smi"],
            },
            "conversion": _conversion(kind),
            "versions": versions,
        },
    }


def _conversion(kind: str) -> dict[str, Any]:
    """The conversion webhook for SMI kinds; none for the policy group (one version, nothing to convert)."""
    if kind in _POLICY_KINDS:
        return {"strategy": "None"}
    return {
        "strategy": "Webhook",
        "webhook": {"conversionReviewVersions": ["v1"], "clientConfig": {"service": dict(CONVERSION_SERVICE)}},
    }


def build_crds() -> list[dict[str, Any]]:
    return [build_crd(kind) for kind in NAMES]


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def render_files() -> dict[str, str]:
    """File name -> YAML text of every CRD, as committed under ``manifests/crds/``."""
    header = "# Generated by `python -m smi.crds` from smi/schemas; do not edit by hand.\n"
    return {
        f"{crd['metadata']['name']}.yaml": header + yaml.dump(crd, Dumper=_NoAliases, sort_keys=False, width=120)
        for crd in build_crds()
    }


def main(argv: list[str]) -> int:
    target = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / "manifests" / "crds"
    target.mkdir(parents=True, exist_ok=True)
    for name, text in render_files().items():
        (target / name).write_text(text, encoding="utf-8")
        print(target / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
