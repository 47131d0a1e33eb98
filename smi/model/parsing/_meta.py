"""``metadata`` of any kind: name and namespace rules, labels, annotations, preserved fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smi.checking.checks import dns_label_problem, dns_subdomain_problem
from smi.model import _preserved
from smi.model.meta import ObjectMeta, OwnerReference
from smi.model.parsing._reporting import Report
from smi.model.parsing._shapes import mapping, sequence, text, whole

DEFAULT_NAMESPACE = "default"
_LABEL_NAMED = frozenset({"Service", "Namespace"})
_PRESERVED_PATH = f'metadata.annotations["{_preserved.ANNOTATION}"]'


def build_meta(
    metadata: Mapping[str, Any], *, kind: str, cluster_scoped: bool, report: Report
) -> tuple[ObjectMeta, dict[str, Any]]:
    """The hub metadata and the preserved fields it carried (ill-formed values read as absent)."""
    name = text(metadata.get("name")) or ""
    check = dns_label_problem if kind in _LABEL_NAMED else dns_subdomain_problem
    report.check("metadata.name", check(name))
    namespace = ""
    if not cluster_scoped:
        namespace = text(metadata.get("namespace")) or DEFAULT_NAMESPACE
        report.check("metadata.namespace", dns_label_problem(namespace, what="namespace"))
    annotations = dict(mapping(metadata.get("annotations")))
    preserved: dict[str, Any] = {}
    encoded = annotations.pop(_preserved.ANNOTATION, None)
    if isinstance(encoded, str):
        try:
            preserved = _preserved.decode(encoded)
        except ValueError as exc:
            report.error(_PRESERVED_PATH, str(exc))
    generation = metadata.get("generation")
    meta = ObjectMeta(
        name=name,
        namespace=namespace,
        labels=dict(mapping(metadata.get("labels"))),
        annotations=annotations,
        generation=whole(generation),
        resource_version=text(metadata.get("resourceVersion")),
        uid=text(metadata.get("uid")),
        owner_references=owner_references(metadata.get("ownerReferences")),
    )
    return meta, preserved


def owner_references(value: Any) -> tuple[OwnerReference, ...]:
    """``metadata.ownerReferences``; entries without a kind or a name are left out (the schema reports them)."""
    refs = []
    for ref in map(mapping, sequence(value)):
        kind, name = text(ref.get("kind")), text(ref.get("name"))
        if kind and name:
            refs.append(
                OwnerReference(
                    kind=kind,
                    name=name,
                    api_version=text(ref.get("apiVersion")) or "",
                    controller=ref.get("controller") is True,
                )
            )
    return tuple(refs)


def bad_preserved(report: Report, key: str) -> None:
    report.error(_PRESERVED_PATH, f"preserved field {key!r} has the wrong shape")
