"""HTTPRouteGroup, TCPRoute and UDPRoute of any served version -> hub objects.

``headers`` arrive as a map or as a list of single-key maps; both become
``(lower-cased name, regex)`` pairs.  Duplicate names (also after lower-casing) and
multi-key list items are errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smi.checking.checks import header_name_problem, regex_problem
from smi.checking.problems import key_path
from smi.model import _preserved
from smi.model.meta import ObjectMeta
from smi.model.parsing._meta import bad_preserved
from smi.model.parsing._reporting import Report
from smi.model.parsing._shapes import mapping, sequence, strings, text, whole
from smi.model.specs import HTTPMatch, HTTPRouteGroup, TCPRoute, UDPRoute


def build_http_route_group(
    raw: Mapping[str, Any], *, version: str, meta: ObjectMeta, preserved: dict[str, Any], report: Report
) -> HTTPRouteGroup:
    top_level = version in ("v1alpha1", "v1alpha2")
    items = sequence(raw.get("matches") if top_level else mapping(raw.get("spec")).get("matches"))
    prefix = "matches" if top_level else "spec.matches"
    matches: list[HTTPMatch] = []
    first_seen: dict[str, int] = {}
    for i, value in enumerate(items):
        path = f"{prefix}[{i}]"
        item = mapping(value)
        name = text(item.get("name"))
        if name is not None:
            if not name:
                report.error(f"{path}.name", "match name must not be empty")
            if name in first_seen:
                report.error(f"{path}.name", f"duplicate match name {name!r} (also {prefix}[{first_seen[name]}])")
            first_seen.setdefault(name, i)
        path_regex = text(item.get("pathRegex"))
        if path_regex is not None:
            report.check(f"{path}.pathRegex", regex_problem(path_regex))
        headers = _headers(item.get("headers"), f"{path}.headers", report)
        matches.append(
            HTTPMatch(name=name or "", path_regex=path_regex, methods=strings(item.get("methods")), headers=headers)
        )
    if version == "v1alpha1" and _preserved.HTTP_HEADERS in preserved:
        matches = _restore_headers(matches, preserved[_preserved.HTTP_HEADERS], report)
    return HTTPRouteGroup(meta=meta, matches=tuple(matches), api_version=f"{HTTPRouteGroup.GROUP}/{version}")


def _headers(value: Any, path: str, report: Report) -> tuple[tuple[str, str], ...]:
    """Header pairs from the map or the list form; ill-formed entries are skipped."""
    entries: list[tuple[str, Any, Any]] = []
    if isinstance(value, Mapping):
        entries = [(key_path(path, str(name)), name, regex) for name, regex in value.items()]
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, Mapping) and len(item) == 1:
                entries.append((f"{path}[{i}]", *next(iter(item.items()))))
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for where, name, regex in entries:
        if not (isinstance(name, str) and isinstance(regex, str)):
            continue
        report.check(where, header_name_problem(name))
        report.check(where, regex_problem(regex))
        lowered = name.lower()
        if lowered in seen:
            report.error(where, f"duplicate header {lowered!r} (header names are case-insensitive)")
        seen.add(lowered)
        pairs.append((lowered, regex))
    return tuple(pairs)


def _restore_headers(matches: list[HTTPMatch], value: Any, report: Report) -> list[HTTPMatch]:
    if not isinstance(value, dict):
        bad_preserved(report, _preserved.HTTP_HEADERS)
        return matches
    restored = list(matches)
    for key, pairs in value.items():
        index = int(key) if isinstance(key, str) and key.isdigit() else -1
        valid = isinstance(pairs, list) and all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) for s in p) for p in pairs
        )
        if not (0 <= index < len(restored) and valid):
            bad_preserved(report, _preserved.HTTP_HEADERS)
            return matches
        m = restored[index]
        restored[index] = HTTPMatch(
            name=m.name, path_regex=m.path_regex, methods=m.methods, headers=tuple((k, v) for k, v in pairs)
        )
    return restored


def _l4_ports(raw: Mapping[str, Any], report: Report) -> tuple[int, ...]:
    items = sequence(mapping(mapping(raw.get("spec")).get("matches")).get("ports"))
    ports: list[int] = []
    for i, value in enumerate(items):
        port = whole(value)
        if port is None:
            continue
        if port in ports:
            report.warning(f"spec.matches.ports[{i}]", f"port {port} is listed twice")
        ports.append(port)
    return tuple(ports)


def build_tcp_route(
    raw: Mapping[str, Any], *, version: str, meta: ObjectMeta, preserved: dict[str, Any], report: Report
) -> TCPRoute:
    ports = _l4_ports(raw, report)
    if version != "v1alpha4" and _preserved.L4_PORTS in preserved:
        value = preserved[_preserved.L4_PORTS]
        if isinstance(value, list) and all(
            isinstance(p, int) and not isinstance(p, bool) and 1 <= p <= 65535 for p in value
        ):
            ports = tuple(value)
        else:
            bad_preserved(report, _preserved.L4_PORTS)
    return TCPRoute(meta=meta, ports=ports, api_version=f"{TCPRoute.GROUP}/{version}")


def build_udp_route(
    raw: Mapping[str, Any], *, version: str, meta: ObjectMeta, preserved: dict[str, Any], report: Report
) -> UDPRoute:
    return UDPRoute(meta=meta, ports=_l4_ports(raw, report), api_version=f"{UDPRoute.GROUP}/{version}")
