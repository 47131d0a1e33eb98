"""Checks on raw objects, below the model: the problem type, JSON Schema checking, semantic checks.

* :mod:`smi.checking.problems` -- the :class:`Problem` value and its one-line format.
* :mod:`smi.checking.schema_checking` -- raw object vs. its JSON Schema, errors translated
  into field paths and plain reasons.
* :mod:`smi.checking.checks` -- semantic primitives (regexes, ports, DNS names).

The parser (``smi.model.parsing``) uses them; whole-document validation (``smi validate``)
is ``smi.validation``, which sits above the model.  This package imports only
``smi.schemas`` and jsonschema.
"""
