"""Check a raw object against its JSON Schema; report field paths and plain reasons.

jsonschema's own messages (``-5 is less than the minimum of 0``) are translated into the
project's wording (``must be >= 0, got -5``), keyed by the failing keyword.  A node's
``x-smi-message`` replaces the generic reason.  For ``anyOf`` nodes (map-or-list headers,
int-or-string weights) the branch whose type fits the value is reported, so a list of
headers with a two-key item reads ``headers[1]: must have at most 1 key, got 2`` rather
than "not valid under any of the given schemas".
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from smi.schemas import schema_for
from smi.validation.problems import format_path, show, type_name

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


@cache
def _validator(kind: str, api_version: str) -> Draft202012Validator | None:
    schema = schema_for(kind, api_version)
    return None if schema is None else Draft202012Validator(schema)


def check_schema(raw: Mapping[str, Any], *, kind: str, api_version: str) -> list[tuple[str, str]]:
    """``(path, reason)`` for every schema violation of ``raw``; empty when it conforms."""
    validator = _validator(kind, api_version)
    if validator is None:
        return [("apiVersion", f"{api_version} does not serve kind {kind}")]
    found: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    errors = sorted(validator.iter_errors(raw), key=lambda e: [str(p) for p in e.absolute_path])
    for error in errors:
        for item in _translate(error, root=raw):
            if item not in seen:
                seen.add(item)
                found.append(item)
        if len(found) >= MAX_PROBLEMS:
            found.append(("", f"too many problems; showing the first {MAX_PROBLEMS}"))
            break
    return found


def _translate(error: ValidationError, *, root: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    parts: list[str | int] = list(error.absolute_path)
    path = format_path(parts)
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    custom = schema.get("x-smi-message")
    keyword, value, instance = str(error.validator), error.validator_value, error.instance

    if keyword == "required":
        present = instance if isinstance(instance, Mapping) else {}
        for name in value if isinstance(value, list) else ():
            if name not in present:
                yield format_path([*parts, name]), "required field is missing"
    elif keyword == "additionalProperties" and value is False:
        known = schema.get("properties", {})
        for name in instance if isinstance(instance, Mapping) else ():
            if name not in known:
                yield format_path([*parts, str(name)]), _unknown_field(str(name), known, root=root, at_top=not parts)
    elif keyword == "anyOf":
        yield from _translate_any_of(error, path=path, custom=custom, root=root)
    elif custom and keyword in ("type", "enum", "pattern", "anyOf"):
        yield path, f"{custom}, got {show(instance)}"
    else:
        yield path, _reason(keyword, value, instance)


def _translate_any_of(
    error: ValidationError, *, path: str, custom: str | None, root: Mapping[str, Any]
) -> Iterator[tuple[str, str]]:
    branches = error.validator_value if isinstance(error.validator_value, list) else []
    fitting = [i for i, branch in enumerate(branches) if _fits_type(error.instance, branch.get("type"))]
    if len(fitting) == 1:
        inner = [e for e in error.context or () if e.schema_path and e.schema_path[0] == fitting[0]]
        if inner:
            for sub in inner:
                yield from _translate(sub, root=root)
            return
    if custom:
        yield path, f"{custom}, got {type_name(error.instance)} {show(error.instance)}"
    else:
        kinds = " or ".join(_TYPE_WORDS.get(str(b.get("type")), str(b.get("type"))) for b in branches)
        yield path, f"must be {kinds}, got {type_name(error.instance)}"


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


def _unknown_field(name: str, known: Mapping[str, Any], *, root: Mapping[str, Any], at_top: bool) -> str:
    spec = known.get("spec")
    if at_top and isinstance(spec, Mapping) and name in spec.get("properties", {}):
        version = root.get("apiVersion", "this version")
        return f"unknown field; in {version} '{name}' belongs under 'spec'"
    if at_top and name == "spec" and "spec" not in known:
        version = root.get("apiVersion", "this version")
        return f"unknown field; {version} has no 'spec' (its fields sit at the top level)"
    return "unknown field"


def _reason(keyword: str, value: Any, instance: Any) -> str:
    if keyword == "type":
        expected = value if isinstance(value, list) else [value]
        words = " or ".join(_TYPE_WORDS.get(str(t), str(t)) for t in expected)
        return f"must be {words}, got {type_name(instance)} {show(instance)}"
    if keyword == "minimum":
        return f"must be >= {value}, got {show(instance)}"
    if keyword == "maximum":
        return f"must be <= {value}, got {show(instance)}"
    if keyword == "enum":
        return f"must be one of {', '.join(str(v) for v in value)}, got {show(instance)}"
    if keyword == "minItems":
        return f"must have at least {value} item{'s' if value != 1 else ''}"
    if keyword == "maxItems":
        return f"must have at most {value} items, got {len(instance)}"
    if keyword == "minLength":
        return "must not be empty" if value == 1 else f"must be at least {value} characters long"
    if keyword == "maxLength":
        return f"must be at most {value} characters long, got {len(instance)}"
    if keyword == "minProperties":
        return f"must have at least {value} key{'s' if value != 1 else ''}"
    if keyword == "maxProperties":
        return f"must have at most {value} key{'s' if value != 1 else ''}, got {len(instance)}"
    if keyword == "pattern":
        return f"does not match the pattern {value}, got {show(instance)}"
    return str(keyword) + ": " + show(instance)
