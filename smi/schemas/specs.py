"""JSON Schemas of HTTPRouteGroup, TCPRoute (v1alpha1..v1alpha4) and UDPRoute (v1alpha4).

``headers`` (specs v1alpha2+) is accepted as a map (the spec text) and as a list of
single-key maps (what smi-sdk-go's CRD declares).  A structural CRD cannot express "one
of two types", so that one node is ``x-kubernetes-preserve-unknown-fields`` with no type;
the ``anyOf`` beside it is enforced by ``smi validate`` and the controller, and the CRD
builder leaves it out.
"""

from __future__ import annotations

from smi.schemas._builders import (
    HTTP_METHODS,
    MAX_REGEX_LENGTH,
    Schema,
    array,
    closed,
    port,
    string,
    string_map,
    top_level,
)

GROUP = "specs.smi-spec.io"
VERSIONS = ("v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4")
UDP_VERSIONS = ("v1alpha4",)


def _headers() -> Schema:
    single = {"type": "object", "additionalProperties": {"type": "string"}, "minProperties": 1, "maxProperties": 1}
    return {
        "description": "Header name -> regex (all must match); a map or a list of single-key maps.",
        "x-kubernetes-preserve-unknown-fields": True,
        "anyOf": [string_map(), {"type": "array", "items": single}],
        "x-smi-message": "must be a mapping of header name to regex, or a list of single-key mappings",
    }


def _http_match(version: str) -> Schema:
    fields: dict[str, Schema] = {
        "name": string("Name of this match; TrafficTargets refer to it."),
        "pathRegex": string("Regex matched at the start of the request path.", maxLength=MAX_REGEX_LENGTH),
        "methods": array(
            string(
                enum=list(HTTP_METHODS),
                **{"x-smi-message": f"must be an upper-case HTTP method or '*' ({', '.join(HTTP_METHODS[1:])})"},
            ),
            "HTTP methods, or '*' for all.",
        ),
    }
    if version != "v1alpha1":
        fields["headers"] = _headers()
    return closed(fields, required=("name",))


def http_route_group(version: str) -> Schema:
    matches = array(_http_match(version), "The named request matches of this group.")
    if version in ("v1alpha1", "v1alpha2"):
        fields, required = {"matches": matches}, ("matches",)
    else:
        fields, required = {"spec": closed({"matches": matches}, required=("matches",))}, ("spec",)
    return top_level(
        api_version=f"{GROUP}/{version}",
        kind="HTTPRouteGroup",
        fields=fields,
        required=required,
        description="Named HTTP request matches (path, methods, headers).",
    )


def _l4_spec(description: str) -> Schema:
    ports = array(port(), f"{description} ports; an empty list means every port.")
    matches = closed({"ports": ports}, required=("ports",))
    # smi-sdk-go's Go type has matches.name; its CRD does not, so the API server prunes it.
    matches["x-smi-ignored"] = {"name": "in smi-sdk-go's Go type, pruned by the upstream CRD"}
    return closed({"matches": matches}, required=("matches",))


def tcp_route(version: str) -> Schema:
    fields: dict[str, Schema] = {}
    if version == "v1alpha3":
        fields["spec"] = closed({}, description="Empty in this version.")
    elif version == "v1alpha4":
        fields["spec"] = _l4_spec("TCP destination")
    return top_level(api_version=f"{GROUP}/{version}", kind="TCPRoute", fields=fields, description="Raw TCP traffic.")


def udp_route(version: str) -> Schema:
    return top_level(
        api_version=f"{GROUP}/{version}",
        kind="UDPRoute",
        fields={"spec": _l4_spec("UDP destination")},
        description="UDP traffic.",
    )
