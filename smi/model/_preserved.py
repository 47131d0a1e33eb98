"""The ``smi-mesh.io/preserved-fields`` annotation: fields a version cannot express.

When an object is rendered in an apiVersion that has no place for one of its fields (for
example TrafficSplit ``spec.matches`` in v1alpha2), the renderer stores the value here as
JSON keyed by the field's path in the richest version, and the parser restores it when it
reads that version back.  Round trips through any version are therefore lossless.  The
parser removes the annotation from the hub object, so it never leaks into the model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

ANNOTATION = "smi-mesh.io/preserved-fields"

# Keys of the preserved JSON object, one per field that can be lost.
SPLIT_MATCHES = "spec.matches"
SPLIT_WEIGHTS = "spec.backends[].weight"
TARGET_PORT = "spec.destination.port"
TARGET_RULES = "spec.rules"
HTTP_HEADERS = "spec.matches[].headers"
L4_PORTS = "spec.matches.ports"


def encode(fields: Mapping[str, Any]) -> str:
    return json.dumps(dict(fields), sort_keys=True, separators=(",", ":"))


def decode(text: str) -> dict[str, Any]:
    """The preserved fields; ``ValueError`` when the annotation is not a JSON object."""
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError("must be a JSON object")
    return value
