"""RFC 6902 JSON Patch operations, and a small applier for the ``add`` ops the injector emits.

Paths are JSON Pointers (RFC 6901): ``~`` is written ``~0`` and ``/`` is written ``~1``, so
the annotation ``smi-mesh.io/inbound-port`` is ``/metadata/annotations/smi-mesh.io~1inbound-port``.
``apply_patch`` exists for previews (``smi inject``) and tests; the API server applies the
real patch.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NotRequired, TypedDict


class JSONPatchOp(TypedDict):
    op: Literal["add", "remove", "replace", "move", "copy", "test"]
    path: str
    value: NotRequired[Any]


def pointer(*parts: str | int) -> str:
    """``pointer("metadata", "annotations", "a/b")`` -> ``/metadata/annotations/a~1b``."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def add(path: str, value: Any) -> JSONPatchOp:
    return {"op": "add", "path": path, "value": value}


def _tokens(path: str) -> list[str]:
    if not path.startswith("/"):
        raise ValueError(f"JSON pointer must start with '/': {path!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def apply_patch(document: Mapping[str, Any], ops: Sequence[JSONPatchOp]) -> dict[str, Any]:
    """A copy of ``document`` with the ``add`` ops applied (ValueError for anything else)."""
    result: dict[str, Any] = copy.deepcopy(dict(document))
    for op in ops:
        if op["op"] != "add":
            raise ValueError(f"only 'add' is supported here, got {op['op']!r}")
        *parents, last = _tokens(op["path"])
        target: Any = result
        for token in parents:
            target = target[int(token)] if isinstance(target, list) else target[token]
        value = copy.deepcopy(op["value"])
        if isinstance(target, list):
            target.insert(len(target) if last == "-" else int(last), value)
        elif isinstance(target, dict):
            target[last] = value
        else:
            raise ValueError(f"{op['path']}: parent is neither an object nor an array")
    return result
