"""The monitoring level of a sidecar: how much it tells about the traffic it carries.

Shared by the compile (which reads it from the ``smi-mesh.io/monitoring`` annotation) and the
sidecar (which applies it to its exported series and its tap).  docs/semantics.md has the rule.

* ``off``: no per-edge request series and no tap; the sidecar still exports its own health
  (config, TLS, resilience) and its errors and denials, summed per direction.
* ``golden``: per-edge golden metrics (requests, responses by status class and code, the
  latency histogram, bytes) without the per-route split (the ``route`` label is empty); no tap.
* ``routes``: everything: per-route series and tap.  The default.
"""

from __future__ import annotations

from typing import Final

MONITORING_OFF: Final = "off"
MONITORING_GOLDEN: Final = "golden"
MONITORING_ROUTES: Final = "routes"
MONITORING_LEVELS: Final = (MONITORING_OFF, MONITORING_GOLDEN, MONITORING_ROUTES)  # least to most detail
DEFAULT_MONITORING: Final = MONITORING_ROUTES


def level_problem(value: object) -> str | None:
    """Why ``value`` is no monitoring level (None when it is one)."""
    if value in MONITORING_LEVELS:
        return None
    return f"must be one of {', '.join(MONITORING_LEVELS)}, got {value!r}"
