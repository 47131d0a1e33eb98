"""Validation of whole documents (``smi validate``): every problem of every document, as problems.

* :mod:`smi.validation.validating` -- load results + parse, every problem in input order.

The building blocks (the :class:`Problem` value, schema checking, semantic checks) are
the leaf :mod:`smi.checking`, which the parser uses too; this package sits above the
model and the model imports nothing from it.
"""

from smi.checking.problems import ERROR, WARNING, Problem, Severity, format_path

__all__ = ["ERROR", "WARNING", "Problem", "Severity", "format_path"]
