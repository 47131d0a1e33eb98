"""The conformance scenarios against the local runtime, as part of the CI suite."""

from __future__ import annotations

from conformance.plugin import mesh, scenario

__all__ = ["mesh", "scenario"]
