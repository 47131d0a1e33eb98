"""Collects the problems of one object while it is being parsed."""

from __future__ import annotations

from dataclasses import dataclass, field

from smi.validation.problems import ERROR, WARNING, Problem


@dataclass
class Report:
    """Where problems go: every one is stamped with the file and the object's identity."""

    source: str
    kind: str = ""
    namespace: str = ""
    name: str = ""
    index: int | None = None
    problems: list[Problem] = field(default_factory=list)

    def error(self, path: str, message: str) -> None:
        self._add(path, message, severe=True)

    def warning(self, path: str, message: str) -> None:
        self._add(path, message, severe=False)

    def check(self, path: str, reason: str | None) -> None:
        """Record ``reason`` as an error at ``path`` unless it is None."""
        if reason is not None:
            self.error(path, reason)

    def has_errors(self) -> bool:
        return any(problem.is_error for problem in self.problems)

    def _add(self, path: str, message: str, *, severe: bool) -> None:
        self.problems.append(
            Problem(
                source=self.source,
                kind=self.kind,
                namespace=self.namespace,
                name=self.name,
                path=path,
                message=message,
                severity=ERROR if severe else WARNING,
                index=self.index,
            )
        )
