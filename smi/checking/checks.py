"""Semantic checks the JSON Schema cannot express, as small functions returning a reason.

Each returns None when the value is fine, else the reason text of a problem line.  The
parsers call them with the field path they know, so every problem points at its field.
"""

from __future__ import annotations

import re

from smi.schemas import MAX_REGEX_LENGTH

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a usable Python regex (too long, or does not compile)."""
    if len(pattern) > MAX_REGEX_LENGTH:
        return f"regex is longer than {MAX_REGEX_LENGTH} characters ({len(pattern)})"
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError, ValueError) as exc:
        return f"invalid regex {_clip(pattern)}: {exc}"
    return None


def dns_label_problem(name: str, *, what: str = "name") -> str | None:
    """DNS-1123 label: Service and Namespace names, 1..63 of ``a-z0-9-``."""
    if not name:
        return f"{what} must not be empty"
    if len(name) > 63 or not _LABEL.match(name):
        return (
            f"{what} must be a DNS-1123 label (at most 63 lower-case letters, digits or '-', "
            f"starting and ending with a letter or digit), got {_clip(name)}"
        )
    return None


def dns_subdomain_problem(name: str, *, what: str = "name") -> str | None:
    """DNS-1123 subdomain: most object names, 1..253 characters, dot-separated labels."""
    if not name:
        return f"{what} must not be empty"
    if len(name) > 253 or not all(_LABEL.match(part) for part in name.split(".")):
        return (
            f"{what} must be a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', "
            f"starting and ending with a letter or digit), got {_clip(name)}"
        )
    return None


def header_name_problem(name: str) -> str | None:
    if not _HEADER_NAME.match(name):
        return f"invalid HTTP header name {_clip(name)}"
    return None


def _clip(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")
