"""HTTPRouteGroup matches → ProxyConfig ``HttpMatch``es, used by access rules here and by
TrafficSplit ``matches`` (``traffic_split`` imports this module: HTTPRouteGroup, of
specs.smi-spec.io, belongs to this package).

A match whose path or header regex does not compile (Python ``re``) is left out and
reported in the group's status; a reference to it then finds nothing, so a rule or split
that relied on it is narrowed or dropped, never widened.  Header names are lower-cased.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from smi.compile.index import MeshIndex
from smi.compile.status import INVALID_REGEX, Problem
from smi.model import HTTPMatch, HTTPRouteGroup
from smi.proxyconfig.types import HttpMatch


@dataclass(frozen=True, slots=True)
class GroupMatches:
    """The usable matches of one group, in manifest order, and what was wrong with the others."""

    matches: tuple[HttpMatch, ...]
    problems: tuple[Problem, ...]

    def named(self, name: str) -> HttpMatch | None:
        for match in self.matches:
            if match.name == name:
                return match
        return None


_DEPENDS = frozenset({HTTPRouteGroup.KIND})


def group_matches(index: MeshIndex, group: HTTPRouteGroup) -> GroupMatches:
    key = ("http-matches", group.meta.namespace, group.meta.name)
    return index.memo(key, lambda: _convert(group), depends=_DEPENDS)


def _convert(group: HTTPRouteGroup) -> GroupMatches:
    matches: list[HttpMatch] = []
    problems: list[Problem] = []
    prefix = "matches" if group.api_version.endswith(("v1alpha1", "v1alpha2")) else "spec.matches"
    for i, match in enumerate(group.matches):
        problem = _regex_problem(match, f"{prefix}[{i}]")
        if problem is not None:
            problems.append(problem)
            continue
        matches.append(
            HttpMatch(
                name=match.name,
                path_regex=match.path_regex,
                methods=match.methods,
                headers=tuple((name.lower(), value) for name, value in match.headers),
            )
        )
    return GroupMatches(matches=tuple(matches), problems=tuple(problems))


def _regex_problem(match: HTTPMatch, path: str) -> Problem | None:
    candidates = [(f"{path}.pathRegex", match.path_regex)]
    candidates += [(f"{path}.headers.{name}", value) for name, value in match.headers]
    for field, pattern in candidates:
        if pattern is None:
            continue
        try:
            re.compile(pattern)
        except re.error as e:
            return Problem(INVALID_REGEX, f"{field}: invalid regular expression {pattern!r} ({e}); match skipped.")
    return None
