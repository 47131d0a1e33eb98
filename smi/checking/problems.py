"""Problems: what is wrong with an input object, as data, and how it is printed.

A :class:`Problem` names the file (``source``), the object (``kind``, ``namespace``,
``name``), the field (``path``, e.g. ``spec.backends[1].weight``) and the reason.  Its
one-line form is what ``smi validate`` prints and what :class:`smi.errors.InvalidObject`
carries as its message::

    split.yaml: TrafficSplit default/web-split: spec.backends[1].weight: must be >= 0, got -5

Warnings read the same with ``warning: `` before the reason.  When the object cannot be
named (a document that is not a mapping, a broken file), the label falls back to the
document's position in the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["error", "warning"]

ERROR: Severity = "error"
WARNING: Severity = "warning"


@dataclass(frozen=True, slots=True)
class Problem:
    source: str
    kind: str
    namespace: str
    name: str
    path: str
    message: str
    severity: Severity = ERROR
    index: int | None = None  # the document's position in its file (0-based), when known

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    @property
    def subject(self) -> str:
        """The object label: ``Kind ns/name``, ``Kind name``, ``Kind`` or ``document N``."""
        if self.kind and self.name:
            return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"
        if self.kind:
            return f"{self.kind} (unnamed{self._position(' in document ')})"
        return f"document {self.index + 1}" if self.index is not None else "document"

    def _position(self, prefix: str) -> str:
        return f"{prefix}{self.index + 1}" if self.index is not None else ""

    def __str__(self) -> str:
        parts = [self.source, self.subject]
        if self.path:
            parts.append(self.path)
        reason = self.message if self.is_error else f"warning: {self.message}"
        return ": ".join([*parts, reason])

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "document": self.index,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "path": self.path,
            "message": self.message,
            "severity": self.severity,
            "line": str(self),
        }


def format_path(parts: tuple[str | int, ...] | list[str | int]) -> str:
    """``("spec", "backends", 1, "weight")`` -> ``spec.backends[1].weight``.

    Keys that are not plain identifiers (``smi-mesh.io/port``) are written ``["..."]``.
    """
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _is_plain(part):
            out += f".{part}" if out else part
        else:
            out += f'["{part}"]'
    return out


def key_path(base: str, key: str) -> str:
    """``base`` extended by a mapping key, in the same notation as :func:`format_path`."""
    if not _is_plain(key):
        return f'{base}["{key}"]'
    return f"{base}.{key}" if base else key


def _is_plain(key: str) -> bool:
    return bool(key) and all(ch.isalnum() or ch in "-_" for ch in key)


def show(value: Any, *, limit: int = 60) -> str:
    """A short, safe rendering of an offending value for a message."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, str):
        text = repr(value)
    elif isinstance(value, int | float):
        text = str(value) if not isinstance(value, int) or abs(value) < 10**30 else f"a {len(str(value))}-digit number"
    elif isinstance(value, list | tuple):
        text = f"a list of {len(value)} items"
    elif isinstance(value, dict):
        text = f"a mapping of {len(value)} keys"
    else:
        text = type(value).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def type_name(value: Any) -> str:
    """The JSON name of a value's type, for messages."""
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__
