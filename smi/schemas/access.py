"""JSON Schemas of TrafficTarget, access.smi-spec.io v1alpha1..v1alpha3."""

from __future__ import annotations

from smi.schemas._builders import Schema, array, closed, port, string, top_level

GROUP = "access.smi-spec.io"
VERSIONS = ("v1alpha1", "v1alpha2", "v1alpha3")

_RULE_KINDS = {
    "v1alpha1": ("HTTPRouteGroup", "TCPRoute"),
    "v1alpha2": ("HTTPRouteGroup", "TCPRoute"),
    "v1alpha3": ("HTTPRouteGroup", "TCPRoute", "UDPRoute"),
}


def _subject(*, with_port: bool) -> Schema:
    fields: dict[str, Schema] = {
        "kind": string(
            "Identity kind.",
            enum=["ServiceAccount"],
            **{"x-smi-message": "must be 'ServiceAccount' (the only identity kind SMI defines)"},
        ),
        "name": string("ServiceAccount name."),
        "namespace": string("ServiceAccount namespace."),
    }
    if with_port:
        fields["port"] = port("Destination port to allow (all ports if omitted).")
    return closed(fields, required=("kind", "name"))


def _rule(version: str) -> Schema:
    kinds = _RULE_KINDS[version]
    hint = f"must be one of {', '.join(kinds)}"
    if "UDPRoute" not in kinds:
        hint += f" (UDPRoute rules need {GROUP}/v1alpha3)"
    return closed(
        {
            "kind": string("Kind of the traffic spec.", enum=list(kinds), **{"x-smi-message": hint}),
            "name": string("Name of the traffic spec in this namespace."),
            "matches": array(string(), "Match names of the HTTPRouteGroup (all matches if omitted)."),
        },
        required=("kind", "name"),
    )


def _body(version: str) -> tuple[dict[str, Schema], tuple[str, ...]]:
    has_port = version != "v1alpha3"
    min_items = {"minItems": 1} if version == "v1alpha3" else {}
    rules_name = "specs" if version == "v1alpha1" else "rules"
    fields = {
        "destination": _subject(with_port=has_port),
        "sources": array(_subject(with_port=False), "The identities allowed to call.", **min_items),
        rules_name: array(_rule(version), "The traffic the sources may send.", **min_items),
    }
    required = ("destination", "sources", rules_name) if version == "v1alpha3" else ("destination",)
    return fields, required


def schema(version: str) -> Schema:
    fields, required = _body(version)
    description = "Allows traffic from source identities to a destination identity on the given routes."
    if version == "v1alpha1":
        return top_level(
            api_version=f"{GROUP}/{version}",
            kind="TrafficTarget",
            fields=fields,
            required=required,
            description=description,
        )
    return top_level(
        api_version=f"{GROUP}/{version}",
        kind="TrafficTarget",
        fields={"spec": closed(fields, required=required)},
        required=("spec",),
        description=description,
    )
