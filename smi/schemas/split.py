"""JSON Schemas of TrafficSplit, split.smi-spec.io v1alpha1..v1alpha4."""

from __future__ import annotations

from smi.schemas._builders import QUANTITY_PATTERN, Schema, array, closed, integer, string, top_level

GROUP = "split.smi-spec.io"
VERSIONS = ("v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4")


def _weight(version: str) -> Schema:
    if version == "v1alpha1":
        # A Kubernetes quantity: an integer, a number with a fraction or exponent (1.5,
        # 2.5e3) or a quantity string.  The CRD keeps x-kubernetes-int-or-string (what every
        # CRD quantity uses), so the API server refuses a fractional *number*; smi validate
        # says so in a warning, and the local runtime accepts it (docs/api.md).
        return {
            "description": "Relative weight as a Kubernetes quantity (1 = 1000m).",
            "x-kubernetes-int-or-string": True,
            "anyOf": [{"type": "number"}, {"type": "string"}],
            "pattern": QUANTITY_PATTERN,
            "x-smi-message": "must be a number or a quantity string such as '500m'",
        }
    return integer("Relative weight: a whole number >= 0.", minimum=0, maximum=2**31 - 1)


def _spec(version: str) -> Schema:
    backend = closed(
        {"service": string("Name of a Service in this namespace."), "weight": _weight(version)},
        # ``weight`` may be omitted and reads as 0: older Flagger and Argo Rollouts leave out a
        # zero weight (their Go types say ``omitempty``) in every version (docs/semantics.md).
        required=("service",),
    )
    fields: dict[str, Schema] = {
        "service": string("The root (apex) Service clients call."),
        "backends": array(backend, "The Services that receive the traffic, by weight.", minItems=1),
    }
    if version in ("v1alpha3", "v1alpha4"):
        match = closed(
            {
                "kind": string(
                    "Kind of the route group.",
                    enum=["HTTPRouteGroup"],
                    **{"x-smi-message": "must be 'HTTPRouteGroup'"},
                ),
                "name": string("Name of an HTTPRouteGroup in this namespace."),
                "apiGroup": string(),
            },
            required=("kind", "name"),
        )
        fields["matches"] = array(match, "Only requests matching these route groups are split.")
    return closed(fields, required=("service", "backends"))


def schema(version: str) -> Schema:
    return top_level(
        api_version=f"{GROUP}/{version}",
        kind="TrafficSplit",
        fields={"spec": _spec(version)},
        required=("spec",),
        description="Splits the traffic for a root Service across backend Services by weight.",
    )
