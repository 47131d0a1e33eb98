"""Check a raw object against its JSON Schema; report field paths and plain reasons.

jsonschema's own messages (``-5 is less than the minimum of 0``) are translated into the
project's wording (``must be >= 0, got -5``), keyed by the failing keyword.  A node's
``x-smi-message`` replaces the generic reason.  For ``anyOf`` nodes (map-or-list headers,
int-or-string weights) the branch whose type fits the value is reported, so a list of
headers with a two-key item reads ``headers[1]: must have at most 1 key, got 2`` rather
than "not valid under any of the given schemas".

Unknown fields in SMI objects (whose schemas are closed) follow the API server: the
upstream CRDs prune fields they do not declare, so a manifest with an extra field works
on other meshes.  Such a field is a *warning* naming it (with a "did you mean" hint for a
likely typo).  It stays an *error* when the field is known but misplaced, because pruning
would silently change what the object means:

* at the wrong level (``matches`` at the top of a v1alpha3+ HTTPRouteGroup belongs under
  ``spec``; ``spec`` in a version without one);
* a field of another served version of the kind (``spec.matches`` in a v1alpha2
  TrafficSplit, ``destination.port`` in an access v1alpha3 TrafficTarget).

A node's ``x-smi-ignored`` map names fields that are known to be pruned on purpose (TCPRoute
``spec.matches.name``: in smi-sdk-go's Go type, not in its CRD); they get a fixed warning.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from typing import Any, NamedTuple

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from smi.checking.problems import ERROR, WARNING, Severity, format_path, show, type_name
from smi.schemas import SERVED, schema_for

MAX_PROBLEMS = 50

_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean (true/false)",
    "null": "null",
}


PRUNED = "ignored: not part of the CRD schema, the API server prunes it"


class SchemaIssue(NamedTuple):
    """One schema finding: the field path, the reason and how severe it is."""

    path: str
    reason: str
    severity: Severity = ERROR


@cache
def _validator(kind: str, api_version: str) -> Draft202012Validator | None:
    schema = schema_for(kind, api_version)
    return None if schema is None else Draft202012Validator(schema)


def check_schema(raw: Mapping[str, Any], *, kind: str, api_version: str) -> list[SchemaIssue]:
    """Every schema finding of ``raw`` (errors and warnings); empty when it conforms."""
    validator = _validator(kind, api_version)
    if validator is None:
        return [SchemaIssue("apiVersion", f"{api_version} does not serve kind {kind}")]
    found: list[SchemaIssue] = []
    seen: set[SchemaIssue] = set()
    errors = sorted(validator.iter_errors(raw), key=lambda e: [str(p) for p in e.absolute_path])
    context = _Context(kind=kind, api_version=api_version)
    for error in errors:
        for item in _translate(error, context):
            if item not in seen:
                seen.add(item)
                found.append(item)
        if len(found) >= MAX_PROBLEMS:
            found.append(SchemaIssue("", f"too many problems; showing the first {MAX_PROBLEMS}"))
            break
    return found


class _Context(NamedTuple):
    kind: str
    api_version: str


def _translate(error: ValidationError, context: _Context) -> Iterator[SchemaIssue]:
    parts: list[str | int] = list(error.absolute_path)
    path = format_path(parts)
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    custom = schema.get("x-smi-message")
    keyword, value, instance = str(error.validator), error.validator_value, error.instance

    if keyword == "required":
        present = instance if isinstance(instance, Mapping) else {}
        for name in value if isinstance(value, list) else ():
            if name not in present:
                yield SchemaIssue(format_path([*parts, name]), "required field is missing")
    elif keyword == "additionalProperties" and value is False:
        known = schema.get("properties", {})
        for name in instance if isinstance(instance, Mapping) else ():
            if name not in known:
                yield _unknown_field(parts, str(name), schema, context)
    elif keyword == "anyOf":
        yield from _translate_any_of(error, path=path, custom=custom, context=context)
    elif custom and keyword in ("type", "enum", "pattern", "anyOf"):
        yield SchemaIssue(path, f"{custom}, got {show(instance)}")
    else:
        yield SchemaIssue(path, _reason(keyword, value, instance))


def _translate_any_of(
    error: ValidationError, *, path: str, custom: str | None, context: _Context
) -> Iterator[SchemaIssue]:
    branches = error.validator_value if isinstance(error.validator_value, list) else []
    fitting = [i for i, branch in enumerate(branches) if _fits_type(error.instance, branch.get("type"))]
    if len(fitting) == 1:
        inner = [e for e in error.context or () if e.schema_path and e.schema_path[0] == fitting[0]]
        if inner:
            for sub in inner:
                yield from _translate(sub, context)
            return
    if custom:
        yield SchemaIssue(path, f"{custom}, got {type_name(error.instance)} {show(error.instance)}")
    else:
        kinds = " or ".join(_TYPE_WORDS.get(str(b.get("type")), str(b.get("type"))) for b in branches)
        yield SchemaIssue(path, f"must be {kinds}, got {type_name(error.instance)}")


def _fits_type(instance: Any, expected: Any) -> bool:
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
    }
    check = checks.get(str(expected))
    return bool(check and check(instance))


def _unknown_field(parts: list[str | int], name: str, schema: Mapping[str, Any], context: _Context) -> SchemaIssue:
    """An error when the field is known but misplaced, else a warning (the API server prunes it)."""
    path = format_path([*parts, name])
    known: Mapping[str, Any] = schema.get("properties", {})
    version = context.api_version
    at_top = not parts
    spec = known.get("spec")
    if at_top and isinstance(spec, Mapping) and name in spec.get("properties", {}):
        return SchemaIssue(path, f"unknown field; in {version} '{name}' belongs under 'spec'")
    if at_top and name == "spec" and "spec" not in known:
        return SchemaIssue(path, f"unknown field; {version} has no 'spec' (its fields sit at the top level)")
    shape = _shape([*parts, name])
    elsewhere = [v for v in SERVED.get(context.kind, ()) if v != version and shape in _field_shapes(context.kind, v)]
    if elsewhere:
        versions = ", ".join(v.rpartition("/")[2] for v in elsewhere)
        return SchemaIssue(
            path,
            f"unknown field in {version} (only {versions} ha{'s' if len(elsewhere) == 1 else 've'} it); "
            "the API server would drop it and change what the object means",
        )
    ignored = schema.get("x-smi-ignored", {})
    if isinstance(ignored, Mapping) and name in ignored:
        return SchemaIssue(path, PRUNED, WARNING)
    hint = difflib.get_close_matches(name, [str(k) for k in known], n=1, cutoff=0.75)
    suffix = f"; did you mean '{hint[0]}'?" if hint else ""
    return SchemaIssue(path, f"unknown field, {PRUNED}{suffix}", WARNING)


def _shape(parts: list[str | int]) -> tuple[str, ...]:
    """A field path without list positions: ``spec.backends[1].weight`` -> spec, [], weight."""
    return tuple("[]" if isinstance(p, int) else p for p in parts)


@cache
def _field_shapes(kind: str, api_version: str) -> frozenset[tuple[str, ...]]:
    """Every field path (as :func:`_shape`) the schema of ``kind`` in ``api_version`` declares."""
    shapes: set[tuple[str, ...]] = set()

    def walk(node: Any, prefix: tuple[str, ...]) -> None:
        if not isinstance(node, Mapping):
            return
        for name, child in node.get("properties", {}).items():
            shapes.add((*prefix, name))
            walk(child, (*prefix, name))
        if isinstance(node.get("items"), Mapping):
            walk(node["items"], (*prefix, "[]"))
        for branch in node.get("anyOf", ()):
            walk(branch, prefix)

    walk(schema_for(kind, api_version), ())
    return frozenset(shapes)


def _plural(count: Any, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def _type_reason(value: Any, instance: Any) -> str:
    expected = value if isinstance(value, list) else [value]
    words = " or ".join(_TYPE_WORDS.get(str(t), str(t)) for t in expected)
    return f"must be {words}, got {type_name(instance)} {show(instance)}"


# How each failed keyword reads, given the keyword's value in the schema and the instance.
_REASONS: dict[str, Callable[[Any, Any], str]] = {
    "type": _type_reason,
    "minimum": lambda value, instance: f"must be >= {value}, got {show(instance)}",
    "maximum": lambda value, instance: f"must be <= {value}, got {show(instance)}",
    "enum": lambda value, instance: f"must be one of {', '.join(str(v) for v in value)}, got {show(instance)}",
    "minItems": lambda value, instance: f"must have at least {_plural(value, 'item')}",
    "maxItems": lambda value, instance: f"must have at most {value} items, got {len(instance)}",
    "minLength": lambda value, instance: (
        "must not be empty" if value == 1 else f"must be at least {value} characters long"
    ),
    "maxLength": lambda value, instance: f"must be at most {value} characters long, got {len(instance)}",
    "minProperties": lambda value, instance: f"must have at least {_plural(value, 'key')}",
    "maxProperties": lambda value, instance: f"must have at most {_plural(value, 'key')}, got {len(instance)}",
    "pattern": lambda value, instance: f"does not match the pattern {value}, got {show(instance)}",
}


def _reason(keyword: str, value: Any, instance: Any) -> str:
    reason = _REASONS.get(keyword)
    if reason is None:
        return str(keyword) + ": " + show(instance)
    return reason(value, instance)
