"""Validation: schema checks (jsonschema) and the semantic checks a user needs, as problems.

* :mod:`smi.validation.problems` -- the :class:`Problem` value and its one-line format.
* :mod:`smi.validation.schema_checking` -- raw object vs. its JSON Schema, errors translated
  into field paths and plain reasons.
* :mod:`smi.validation.checks` -- semantic primitives (regexes, ports, DNS names).
* :mod:`smi.validation.validating` -- whole documents: load results + parse, every problem.

This package's ``__init__`` imports only the problem type, so that the parser can use the
checks without an import cycle.
"""

from smi.validation.problems import ERROR, WARNING, Problem, Severity, format_path

__all__ = ["ERROR", "WARNING", "Problem", "Severity", "format_path"]
