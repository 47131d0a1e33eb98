"""``metadata`` of any kind: name and namespace rules, labels, annotations, preserved fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smi.model import _preserved
from smi.model.meta import ObjectMeta
from smi.model.parsing._reporting import Report
from smi.validation.checks import dns_label_problem, dns_subdomain_problem

DEFAULT_NAMESPACE = "default"
_LABEL_NAMED = frozenset({"Service", "Namespace"})
_PRESERVED_PATH = f'metadata.annotations["{_preserved.ANNOTATION}"]'


def build_meta(
    metadata: Mapping[str, Any], *, kind: str, cluster_scoped: bool, report: Report
) -> tuple[ObjectMeta, dict[str, Any]]:
    """The hub metadata (schema-checked input) and the preserved fields it carried."""
    name = str(metadata.get("name", ""))
    check = dns_label_problem if kind in _LABEL_NAMED else dns_subdomain_problem
    report.check("metadata.name", check(name))
    namespace = ""
    if not cluster_scoped:
        namespace = str(metadata.get("namespace") or DEFAULT_NAMESPACE)
        report.check("metadata.namespace", dns_label_problem(namespace, what="namespace"))
    annotations = dict(metadata.get("annotations") or {})
    preserved: dict[str, Any] = {}
    text = annotations.pop(_preserved.ANNOTATION, None)
    if text is not None:
        try:
            preserved = _preserved.decode(str(text))
        except ValueError as exc:
            report.error(_PRESERVED_PATH, str(exc))
    generation = metadata.get("generation")
    meta = ObjectMeta(
        name=name,
        namespace=namespace,
        labels=dict(metadata.get("labels") or {}),
        annotations=annotations,
        generation=generation if isinstance(generation, int) else None,
        resource_version=metadata.get("resourceVersion"),
        uid=metadata.get("uid"),
    )
    return meta, preserved


def bad_preserved(report: Report, key: str) -> None:
    report.error(_PRESERVED_PATH, f"preserved field {key!r} has the wrong shape")
