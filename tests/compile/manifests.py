"""Test input: YAML manifests → hub objects (through the project's parser) → a Snapshot."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from types import MappingProxyType

import yaml

from smi.model import Resource, key_of
from smi.model.parsing import parse
from smi.state import Snapshot


def load_file(path: Path) -> list[Resource]:
    """Every document of a multi-document YAML file, parsed (InvalidObject on a bad one)."""
    docs = yaml.safe_load_all(path.read_text())
    return [parse(doc, source=path.name) for doc in docs if doc]


def snapshot_of(objects: Iterable[Resource], *, version: int = 1) -> Snapshot:
    buckets: dict[str, dict[tuple[str, str], Resource]] = {}
    for obj in objects:
        key = key_of(obj)
        buckets.setdefault(key.kind, {})[(key.namespace, key.name)] = obj
    return Snapshot(version=version, objects=MappingProxyType({k: MappingProxyType(v) for k, v in buckets.items()}))
