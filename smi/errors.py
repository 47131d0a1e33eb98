"""The project's exception tree.

::

    SmiError                     base of every error smi-mesh raises on purpose
    ├── InvalidObject            an input object is wrong; ``.problems`` says where and why
    └── ConversionError          an object cannot be rendered in the requested version
                                 (``render(..., strict=True)`` where a field would be lost,
                                 or a target apiVersion that does not serve the kind)

Bad input never escapes as a ``KeyError`` or ``TypeError``: parsing turns it into
:class:`InvalidObject`, whose message is one line per problem.
"""

from __future__ import annotations

from collections.abc import Iterable

from smi.checking.problems import Problem


class SmiError(Exception):
    """Base of every error smi-mesh raises on purpose."""


class InvalidObject(SmiError):
    """An input object is invalid; ``problems`` lists every error (and warning) found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems) or "invalid object")

    @property
    def errors(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.is_error]


class ConversionError(SmiError):
    """An object cannot be rendered in the requested apiVersion."""

    def __init__(self, message: str, *, fields: Iterable[str] = ()) -> None:
        self.fields: tuple[str, ...] = tuple(fields)
        super().__init__(message)
