"""Small constructors for JSON Schema nodes, so the per-kind schemas read like field tables.

Conventions (the CRD builder in :mod:`smi.crds` relies on them):

* every node has a ``type``, except int-or-string and preserve-unknown-fields nodes;
* SMI objects close their objects with ``additionalProperties: false`` (an unknown field is
  a warning in ``smi validate``, an error when it is a known field in the wrong place or
  version; the CRD drops the keyword, where pruning does that job);
* ``x-smi-message`` on a node replaces the generic reason when that node fails;
* ``x-smi-ignored`` on an object node maps field names that are pruned on purpose to why;
* the top-level ``apiVersion``/``kind`` enums and ``metadata`` details are for validation
  only; the CRD reduces them to what Kubernetes allows.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

HTTP_METHODS = ("*", "GET", "HEAD", "PUT", "POST", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
QUANTITY_PATTERN = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$"
MAX_REGEX_LENGTH = 1024


def string(description: str = "", **extra: Any) -> Schema:
    return _described({"type": "string", **extra}, description)


def integer(description: str = "", **extra: Any) -> Schema:
    return _described({"type": "integer", **extra}, description)


def boolean(description: str = "") -> Schema:
    return _described({"type": "boolean"}, description)


def port(description: str = "A port number (1..65535).") -> Schema:
    return integer(description, minimum=1, maximum=65535)


def array(items: Schema, description: str = "", **extra: Any) -> Schema:
    return _described({"type": "array", "items": items, **extra}, description)


def string_map(description: str = "") -> Schema:
    return _described({"type": "object", "additionalProperties": {"type": "string"}}, description)


def closed(properties: dict[str, Schema], *, required: tuple[str, ...] = (), description: str = "") -> Schema:
    """An object that allows only the listed fields."""
    node = opened(properties, required=required, description=description)
    node["additionalProperties"] = False
    return node


def opened(properties: dict[str, Schema], *, required: tuple[str, ...] = (), description: str = "") -> Schema:
    """An object whose other fields are allowed (and ignored): core Kubernetes objects."""
    node: Schema = {"type": "object", "properties": properties}
    if required:
        node["required"] = list(required)
    return _described(node, description)


def _described(node: Schema, description: str) -> Schema:
    if description:
        node["description"] = description
    return node


def metadata() -> Schema:
    return opened(
        {
            "name": string("The object's name."),
            "generateName": string(),
            "namespace": string("The object's namespace (default: default)."),
            "labels": string_map(),
            "annotations": string_map(),
            "generation": integer(),
            "resourceVersion": string(),
            "uid": string(),
        },
        required=("name",),
    )


def status() -> Schema:
    condition = opened(
        {
            "type": string("Accepted or Valid."),
            "status": string(enum=["True", "False", "Unknown"]),
            "reason": string(),
            "message": string(),
            "lastTransitionTime": string(format="date-time"),
            "observedGeneration": integer(),
        },
        required=("type", "status"),
    )
    return opened(
        {"observedGeneration": integer(), "conditions": array(condition, "What the mesh made of this object.")},
        description="Written by the smi-mesh controller.",
    )


def top_level(
    *,
    api_version: str,
    kind: str,
    fields: dict[str, Schema],
    required: tuple[str, ...] = (),
    with_status: bool = True,
    description: str = "",
) -> Schema:
    """A whole SMI object of one kind and version."""
    properties: dict[str, Schema] = {
        "apiVersion": string(enum=[api_version]),
        "kind": string(enum=[kind]),
        "metadata": metadata(),
        **fields,
    }
    if with_status:
        properties["status"] = status()
    return closed(properties, required=("apiVersion", "kind", "metadata", *required), description=description)
