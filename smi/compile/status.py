"""Per-object compile outcome: what becomes each SMI object's ``Accepted`` condition.

Errors are data: the compile never raises for a bad reference; it records the problem in
the object's status, skips what cannot be applied, and carries on with the rest.

``accepted`` says whether the object has any effect on the mesh.  ``reason`` is
``Accepted`` when it is applied exactly as written; otherwise it names the first problem
(an object can be accepted with a problem, e.g. one of three backends is missing).
``message`` is a readable sentence (or several) naming the object and the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

ACCEPTED: Final = "Accepted"
BACKEND_NOT_FOUND: Final = "BackendNotFound"
BACKEND_PORT_MISSING: Final = "BackendPortMissing"
ROOT_SERVICE_NOT_FOUND: Final = "RootServiceNotFound"
NO_BACKENDS: Final = "NoBackends"
NO_WEIGHT: Final = "NoWeight"
INVALID_WEIGHT: Final = "InvalidWeight"
CONFLICT: Final = "Conflict"
ROUTE_NOT_FOUND: Final = "RouteNotFound"
MATCH_NOT_FOUND: Final = "MatchNotFound"
UNSUPPORTED_KIND: Final = "UnsupportedKind"
NO_SOURCES: Final = "NoSources"
NO_RULES: Final = "NoRules"
PORT_NOT_ALLOWED: Final = "PortNotAllowed"
INVALID_REGEX: Final = "InvalidRegex"
NOT_REFERENCED: Final = "NotReferenced"


@dataclass(frozen=True, slots=True)
class ObjectStatus:
    accepted: bool
    reason: str
    message: str
    observed_generation: int | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an object: a CamelCase reason and a sentence naming the field."""

    reason: str
    message: str


def status_from(
    *,
    title: str,
    applied: bool,
    problems: Sequence[Problem],
    generation: int | None,
    summary: str = "",
) -> ObjectStatus:
    """Fold the problems found while compiling one object into its status.

    ``title`` names the object (``TrafficSplit default/web``); every message starts with it.
    """
    if not problems:
        text = f"{title}: {summary}" if summary else f"{title}: accepted."
        return ObjectStatus(accepted=applied, reason=ACCEPTED, message=text, observed_generation=generation)
    body = " ".join(p.message for p in problems)
    if applied and summary:
        body = f"{summary} {body}"
    return ObjectStatus(
        accepted=applied,
        reason=problems[0].reason,
        message=f"{title}: {body}",
        observed_generation=generation,
    )
