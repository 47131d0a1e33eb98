"""The manifest folder: the objects its YAML files declare, with the last good version kept.

``ManifestFolder.rescan()`` reads every ``*.yaml``/``*.yml``/``*.json`` file under the root
(recursively, skipping hidden files and editor backups), re-parses only files whose content
changed, and returns what changed.  The rules for bad input:

* a file that is not YAML at all keeps contributing the objects it had at its last good read;
* a document that does not parse is reported (file, object, field, reason) and, if it names
  an object this file declared before, that object's last good version is kept;
* a deleted file withdraws its objects;
* a file whose parse fails in any way (even ``RecursionError`` on a document nested 100,000
  levels deep) is reported for that file; every other file keeps being read;
* an object declared in two files is a conflict: it is reported (both files named) and the
  file that declared it first keeps it, instead of the later file winning silently.

So an editor's half-written save, or a typo, never takes down anything that is running.
Problems are data (``FileProblem`` lines), printed by the runtime and shown by ``smi status``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from smi.model import CLUSTER_SCOPED, ObjectKey, Resource, key_of

logger = logging.getLogger(__name__)

SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True, slots=True)
class ParsedFile:
    digest: str
    objects: Mapping[ObjectKey, Resource]
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Changes:
    changed_files: tuple[str, ...] = ()
    removed_files: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()  # new problems found by this rescan

    def __bool__(self) -> bool:
        return bool(self.changed_files or self.removed_files)


def raw_key(raw: Mapping[str, Any]) -> ObjectKey | None:
    """The key a raw manifest claims, when it names one (used to keep an invalid object's last good version)."""
    kind = raw.get("kind")
    meta = raw.get("metadata")
    if not isinstance(kind, str) or not isinstance(meta, Mapping) or not isinstance(meta.get("name"), str):
        return None
    if kind in CLUSTER_SCOPED:
        return ObjectKey(kind, "", meta["name"])
    namespace = meta.get("namespace")
    return ObjectKey(kind, namespace if isinstance(namespace, str) and namespace else "default", meta["name"])


def parse_document(raw: Any, *, source: str, index: int) -> tuple[Resource | None, list[str]]:
    """Parse one YAML document; (object or None, problem lines)."""
    from smi.errors import InvalidObject
    from smi.model.parsing import parse

    if raw is None:
        return None, []
    if not isinstance(raw, Mapping):
        return None, [
            f"{source}: document {index + 1}: must be a mapping (a Kubernetes object), got {type(raw).__name__}"
        ]
    try:
        obj = parse(raw, source=source)
    except InvalidObject as exc:
        errors = [str(p) for p in exc.problems if p.is_error] or [str(exc)]
        return None, errors
    except RecursionError:
        return None, [f"{source}: document {index + 1}: nested too deeply to be parsed"]
    except Exception as exc:  # a parser bug must not take the runtime down
        logger.exception("Parsing %s document %d crashed", source, index + 1)
        return None, [f"{source}: document {index + 1}: cannot be parsed: {exc}"]
    return obj, []


def parse_text(
    text: str, *, source: str, previous: Mapping[ObjectKey, Resource]
) -> tuple[dict[ObjectKey, Resource], list[str]]:
    """The objects of one file's text; invalid documents keep their object's previous version."""
    try:
        documents = list(yaml.safe_load_all(text))
    except RecursionError:
        kept = f"; keeping its last good version ({len(previous)} objects)" if previous else ""
        return dict(previous), [f"{source}: not usable: nested too deeply to be read{kept}"]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        kept = f"; keeping its last good version ({len(previous)} objects)" if previous else ""
        return dict(previous), [f"{source}: not valid YAML{where}: {reason}{kept}"]
    objects: dict[ObjectKey, Resource] = {}
    problems: list[str] = []
    for index, raw in enumerate(documents):
        obj, errors = parse_document(raw, source=source, index=index)
        if obj is not None:
            key = key_of(obj)
            if key in objects:
                problems.append(f"{source}: {key}: declared twice in this file; the later one is used")
            objects[key] = obj
            continue
        problems.extend(errors)
        claimed = raw_key(raw) if isinstance(raw, Mapping) else None
        if claimed is not None and claimed in previous and claimed not in objects:
            objects[claimed] = previous[claimed]
            problems.append(f"{source}: {claimed}: invalid; keeping its last good version")
    return objects, problems


@dataclass
class ManifestFolder:
    root: Path
    files: dict[str, ParsedFile] = field(default_factory=dict)
    owners: dict[ObjectKey, str] = field(default_factory=dict)  # which file an object declared in several is from

    def paths(self) -> list[Path]:
        if self.root.is_file():
            return [self.root]
        found = []
        for path in sorted(self.root.rglob("*")):
            rel = path.relative_to(self.root)
            if any(part.startswith(".") for part in rel.parts) or path.name.endswith("~"):
                continue
            if path.suffix in SUFFIXES and path.is_file():
                found.append(path)
        return found

    def source_name(self, path: Path) -> str:
        return path.name if self.root.is_file() else str(path.relative_to(self.root))

    def rescan(self) -> Changes:
        before_conflicts = set(self.conflicts())
        seen: set[str] = set()
        changed: list[str] = []
        problems: list[str] = []
        for path in self.paths():
            source = self.source_name(path)
            seen.add(source)
            try:
                data = path.read_bytes()
            except OSError as exc:  # unreadable, or vanished between listing and reading
                if not path.exists():
                    seen.discard(source)
                    continue
                problems.append(f"{source}: cannot be read: {exc.strerror or exc}")
                continue
            digest = hashlib.sha256(data).hexdigest()
            before = self.files.get(source)
            if before is not None and before.digest == digest:
                continue
            text = data.decode("utf-8", "replace")
            try:
                objects, found = parse_text(text, source=source, previous=before.objects if before else {})
            except Exception as exc:  # anything one file can do stays that file's problem
                logger.exception("Reading %s failed", source)
                objects = dict(before.objects) if before else {}
                found = [f"{source}: cannot be read: {type(exc).__name__}: {exc}"[:500]]
            self.files[source] = ParsedFile(digest=digest, objects=objects, problems=tuple(found))
            changed.append(source)
            problems.extend(found)
        removed = [source for source in self.files if source not in seen]
        for source in removed:
            del self.files[source]
        self._update_owners()
        problems.extend(c for c in self.conflicts() if c not in before_conflicts)
        return Changes(changed_files=tuple(changed), removed_files=tuple(removed), problems=tuple(problems))

    def _declaring(self) -> dict[ObjectKey, list[str]]:
        declaring: dict[ObjectKey, list[str]] = {}
        for source in sorted(self.files):
            for key in self.files[source].objects:
                declaring.setdefault(key, []).append(source)
        return declaring

    def _update_owners(self) -> None:
        """An object keeps the file it came from while that file still declares it."""
        declaring = self._declaring()
        self.owners = {
            key: self.owners[key] if self.owners.get(key) in sources else sources[0]
            for key, sources in declaring.items()
        }

    def conflicts(self) -> list[str]:
        lines = []
        for key, sources in self._declaring().items():
            if len(sources) > 1:
                owner = self.owners.get(key, sources[0])
                others = ", ".join(s for s in sources if s != owner)
                lines.append(f"{key}: declared in {owner} and {others}; keeping the one in {owner} (remove the other)")
        return lines

    def objects(self) -> dict[ObjectKey, Resource]:
        """Every object the folder declares now (one declared twice: the version of the file that had it first)."""
        merged: dict[ObjectKey, Resource] = {}
        for source in sorted(self.files):
            for key, obj in self.files[source].objects.items():
                if self.owners.get(key, source) == source:
                    merged[key] = obj
        return merged

    def problems(self) -> list[str]:
        return [p for source in sorted(self.files) for p in self.files[source].problems] + self.conflicts()
