"""Collects the problems of one object while it is being parsed.

The schema findings come first (:meth:`Report.schema_issue`); the builders' semantic checks
then run on whatever is well-formed.  A semantic problem at a field the schema already
flagged (or below it) is dropped, and so is an exact repeat, so no problem is reported
twice (``pathRegex`` too long is one error, not a schema error plus a regex error).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from smi.checking.problems import ERROR, WARNING, Problem
from smi.checking.schema_checking import SchemaIssue


@dataclass
class Report:
    """Where problems go: every one is stamped with the file and the object's identity."""

    source: str
    kind: str = ""
    namespace: str = ""
    name: str = ""
    index: int | None = None
    problems: list[Problem] = field(default_factory=list)
    schema_errors: set[str] = field(default_factory=set)

    def schema_issue(self, issue: SchemaIssue) -> None:
        """Record a schema finding; semantic problems at or below an error's field are skipped."""
        self._append(issue.path, issue.reason, issue.severity)
        if issue.severity == ERROR and issue.path:
            self.schema_errors.add(issue.path)

    def error(self, path: str, message: str) -> None:
        self._add(path, message, ERROR)

    def warning(self, path: str, message: str) -> None:
        self._add(path, message, WARNING)

    def check(self, path: str, reason: str | None) -> None:
        """Record ``reason`` as an error at ``path`` unless it is None."""
        if reason is not None:
            self.error(path, reason)

    def has_errors(self) -> bool:
        return any(problem.is_error for problem in self.problems)

    def _add(self, path: str, message: str, severity: str) -> None:
        if not self._covered(path):
            self._append(path, message, severity)

    def _covered(self, path: str) -> bool:
        return any(path == flagged or path.startswith((f"{flagged}.", f"{flagged}[")) for flagged in self.schema_errors)

    def _append(self, path: str, message: str, severity: str) -> None:
        problem = Problem(
            source=self.source,
            kind=self.kind,
            namespace=self.namespace,
            name=self.name,
            path=path,
            message=message,
            severity=ERROR if severity == ERROR else WARNING,
            index=self.index,
        )
        if problem not in self.problems:
            self.problems.append(problem)
