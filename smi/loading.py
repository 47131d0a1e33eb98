"""Read Kubernetes/SMI YAML from files, folders (recursively) and stdin (``-``).

:func:`load_documents` returns one :class:`Document` per YAML document, each with the file
name as given and its position in the file, and either the raw value or a problem.  Bad
input never raises: a missing file, an unreadable or non-YAML file, an empty file, a
document that is not a mapping or a mapping with duplicate keys all become problems.

The YAML dialect is close to what Kubernetes reads: timestamps stay strings (no
``datetime`` objects), scalar mapping keys become strings, and a key repeated in one
mapping is an error rather than "last one wins".
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from smi.checking.problems import ERROR, WARNING, Problem, type_name

SUFFIXES = (".yaml", ".yml", ".json")
MAX_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Document:
    """One YAML document; ``raw`` is None exactly when ``problem`` is an error."""

    source: str
    index: int
    raw: dict[str, Any] | None = None
    problem: Problem | None = None


class _DuplicateKey(yaml.constructor.ConstructorError):
    pass


class _Loader(yaml.SafeLoader):
    """SafeLoader without timestamps, with string keys and duplicate-key detection."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a scalar", key_node.start_mark
                )
            key = _key_text(key)
            if key in mapping:
                raise _DuplicateKey(None, None, f"duplicate key {key!r}", key_node.start_mark)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


def _key_text(key: Any) -> str:
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _Loader.construct_mapping)


def load_documents(paths: Iterable[str | Path], *, stdin: TextIO | None = None) -> list[Document]:
    """Every document of every path (``-`` reads stdin); folders are walked recursively."""
    documents: list[Document] = []
    for path in paths:
        text_path = str(path)
        if text_path == "-":
            stream = stdin if stdin is not None else sys.stdin
            documents.extend(load_text(stream.read(), source="<stdin>"))
            continue
        documents.extend(_load_path(Path(text_path), source=text_path))
    return documents


def _load_path(path: Path, *, source: str) -> list[Document]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
        if not files:
            return [_problem(source, 0, f"no {', '.join(SUFFIXES)} files in this folder", WARNING)]
        return [doc for file in files for doc in _load_path(file, source=str(file))]
    try:
        if path.stat().st_size > MAX_BYTES:
            return [_problem(source, 0, f"file is larger than {MAX_BYTES} bytes")]
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [_problem(source, 0, "no such file or folder")]
    except UnicodeDecodeError:
        return [_problem(source, 0, "not a text file (not UTF-8)")]
    except OSError as exc:
        return [_problem(source, 0, f"cannot read: {exc.strerror or exc}")]
    return load_text(text, source=source)


def load_text(text: str, *, source: str) -> list[Document]:
    """The documents of one YAML stream."""
    documents: list[Document] = []
    index = 0
    try:
        loader = _Loader(text)
    except yaml.YAMLError as exc:
        return [_problem(source, 0, f"not valid YAML: {_yaml_reason(exc)}")]
    try:
        while loader.check_node():
            node = loader.get_node()
            value = loader.construct_document(node) if node is not None else None
            if value is not None:
                documents.append(_document(source, index, value))
            index += 1
    except yaml.YAMLError as exc:
        documents.append(_problem(source, index, f"not valid YAML: {_yaml_reason(exc)}"))
    except RecursionError:
        documents.append(_problem(source, index, "not valid YAML: nested too deeply"))
    finally:
        loader.dispose()
    if not documents:
        documents.append(_problem(source, 0, "empty file: no YAML documents", WARNING))
    return documents


def _document(source: str, index: int, value: Any) -> Document:
    if not isinstance(value, dict):
        return _problem(
            source, index, f"a manifest must be a mapping with apiVersion, kind and metadata, got {type_name(value)}"
        )
    return Document(source=source, index=index, raw=value)


def _yaml_reason(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        return f"{exc.problem or exc.context}{where}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _problem(source: str, index: int, message: str, severity: Any = ERROR) -> Document:
    problem = Problem(
        source=source, kind="", namespace="", name="", path="", message=message, severity=severity, index=index
    )
    return Document(source=source, index=index, problem=problem)
