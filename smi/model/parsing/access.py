"""TrafficTarget of any served version -> the hub :class:`~smi.model.TrafficTarget`.

v1alpha1 has no ``spec`` wrapper and calls the rules ``specs``; v1alpha1/v1alpha2 carry
``destination.port``; v1alpha3 drops it and adds UDPRoute rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smi.checking.checks import dns_label_problem, dns_subdomain_problem
from smi.model import _preserved
from smi.model.access import IdentityRef, RuleRef, TrafficTarget
from smi.model.meta import ObjectMeta
from smi.model.parsing._meta import bad_preserved
from smi.model.parsing._reporting import Report
from smi.model.parsing._shapes import mapping, sequence, strings, text, whole


def build(
    raw: Mapping[str, Any], *, version: str, meta: ObjectMeta, preserved: dict[str, Any], report: Report
) -> TrafficTarget:
    body, prefix = (raw, "") if version == "v1alpha1" else (mapping(raw.get("spec")), "spec.")
    rules_key = "specs" if version == "v1alpha1" else "rules"
    destination = _subject(body.get("destination"), f"{prefix}destination", report)
    port = whole(mapping(body.get("destination")).get("port"))
    sources = tuple(_subject(s, f"{prefix}sources[{i}]", report) for i, s in enumerate(sequence(body.get("sources"))))
    rules = [_rule(r, f"{prefix}{rules_key}[{i}]", report) for i, r in enumerate(sequence(body.get(rules_key)))]
    if version == "v1alpha3" and port is None and _preserved.TARGET_PORT in preserved:
        port = preserved[_preserved.TARGET_PORT]
        if not (isinstance(port, int) and not isinstance(port, bool) and 1 <= port <= 65535):
            bad_preserved(report, _preserved.TARGET_PORT)
            port = None
    if version != "v1alpha3" and _preserved.TARGET_RULES in preserved:
        rules = _restore_rules(rules, preserved[_preserved.TARGET_RULES], report)
    return TrafficTarget(
        meta=meta,
        destination=destination,
        sources=sources,
        rules=tuple(rules),
        destination_port=port,
        api_version=f"{TrafficTarget.GROUP}/{version}",
    )


def _subject(value: Any, path: str, report: Report) -> IdentityRef:
    item = mapping(value)
    name = text(item.get("name"))
    if name is not None:
        report.check(f"{path}.name", dns_subdomain_problem(name, what="service account name"))
    namespace = text(item.get("namespace"))
    if namespace is not None:
        report.check(f"{path}.namespace", dns_label_problem(namespace, what="namespace"))
    return IdentityRef(kind=text(item.get("kind")) or "", name=name or "", namespace=namespace)


def _rule(value: Any, path: str, report: Report) -> RuleRef:
    item = mapping(value)
    name = text(item.get("name"))
    if name is not None:
        report.check(f"{path}.name", dns_subdomain_problem(name))
    matches = item.get("matches")
    if isinstance(matches, list):
        seen: set[str] = set()
        for i, match in enumerate(matches):
            if not isinstance(match, str):
                continue
            if not match:
                report.error(f"{path}.matches[{i}]", "match name must not be empty")
            if match in seen:
                report.error(f"{path}.matches[{i}]", f"duplicate match name {match!r}")
            seen.add(match)
    return RuleRef(
        kind=text(item.get("kind")) or "",
        name=name or "",
        matches=strings(matches) if isinstance(matches, list) else None,
    )


def _restore_rules(rules: list[RuleRef], value: Any, report: Report) -> list[RuleRef]:
    restored = list(rules)
    for item in value if isinstance(value, list) else [None]:
        if not (
            isinstance(item, dict)
            and isinstance(item.get("index"), int)
            and 0 <= item["index"] <= len(restored)
            and isinstance(item.get("kind"), str)
            and isinstance(item.get("name"), str)
            and (item.get("matches") is None or _strings(item["matches"]))
        ):
            bad_preserved(report, _preserved.TARGET_RULES)
            return rules
        matches = item.get("matches")
        rule = RuleRef(kind=item["kind"], name=item["name"], matches=None if matches is None else tuple(matches))
        restored.insert(item["index"], rule)
    return restored


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)
