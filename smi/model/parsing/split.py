"""TrafficSplit of any served version -> the hub :class:`~smi.model.TrafficSplit`."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from smi.checking.checks import dns_label_problem, dns_subdomain_problem
from smi.model import _preserved
from smi.model._quantity import QuantityError, decimal_text, parse_weight, whole_weights
from smi.model.meta import ObjectMeta
from smi.model.parsing._meta import bad_preserved
from smi.model.parsing._reporting import Report
from smi.model.parsing._shapes import mapping, sequence, text, whole
from smi.model.split import SplitBackend, TrafficSplit, TypedRef


def fraction_warning(value: float) -> str:
    """Why a fractional *number* weight works here but not with ``kubectl apply``."""
    return (
        "a number with a fraction is a valid quantity for smi-mesh, but the API server rejects it "
        f"(the CRD field is int-or-string, as for every quantity); write it as a string ('{value!r}')"
    )


def build(
    raw: Mapping[str, Any], *, version: str, meta: ObjectMeta, preserved: dict[str, Any], report: Report
) -> TrafficSplit:
    spec = mapping(raw.get("spec"))
    service = text(spec.get("service"))
    if service is not None:  # a name, or its in-cluster DNS name (Flagger writes name.ns.svc.cluster.local)
        check = dns_subdomain_problem if "." in service else dns_label_problem
        report.check("spec.service", check(service, what="service name"))
    backends = _backends(sequence(spec.get("backends")), version=version, root=service, report=report)
    refs: list[TypedRef] = []
    for i, item in enumerate(sequence(spec.get("matches"))):
        ref = mapping(item)
        kind, name, group = text(ref.get("kind")), text(ref.get("name")), text(ref.get("apiGroup"))
        if name is not None:
            report.check(f"spec.matches[{i}].name", dns_subdomain_problem(name))
        if kind is not None and name is not None:
            refs.append(TypedRef(kind=kind, name=name, api_group=group))
    matches = tuple(refs)
    if version in ("v1alpha1", "v1alpha2") and _preserved.SPLIT_MATCHES in preserved:
        matches = _restore_matches(preserved[_preserved.SPLIT_MATCHES], report)
    if version != "v1alpha1" and _preserved.SPLIT_WEIGHTS in preserved:
        backends = _restore_weights(backends, preserved[_preserved.SPLIT_WEIGHTS], report)
    return TrafficSplit(
        meta=meta,
        service=service or "",
        backends=backends,
        matches=matches,
        api_version=f"{TrafficSplit.GROUP}/{version}",
    )


def _backends(items: list[Any], *, version: str, root: str | None, report: Report) -> tuple[SplitBackend, ...]:
    backends: list[SplitBackend] = []
    weights: list[Decimal | None] = []
    first_seen: dict[str, int] = {}
    for i, item in enumerate(items):
        path = f"spec.backends[{i}]"
        backend = mapping(item)
        service = text(backend.get("service"))
        if service is not None:
            report.check(f"{path}.service", dns_label_problem(service, what="service name"))
            if service in first_seen:
                report.error(
                    f"{path}.service", f"duplicate backend {service!r} (also spec.backends[{first_seen[service]}])"
                )
            first_seen.setdefault(service, i)
            if service == root:
                report.warning(
                    f"{path}.service",
                    f"the root service {root!r} is also a backend; the spec discourages self-referential splits",
                )
        # an omitted weight is 0 (older Flagger and Argo Rollouts omit a zero weight)
        weight = _weight(backend.get("weight"), version, path, report) if "weight" in backend else Decimal(0)
        weights.append(weight)
        backends.append(SplitBackend(service=service or "", weight=weight if weight is not None else Decimal(0)))
    if weights and all(w == 0 for w in weights):
        report.warning("spec.backends", "every weight is 0, so no backend receives traffic")
    return tuple(backends)


def _weight(value: Any, version: str, path: str, report: Report) -> Decimal | None:
    """The exact weight, or None when it is ill-formed (reported here or by the schema)."""
    if version == "v1alpha1":
        try:
            weight = parse_weight(value)
        except QuantityError as exc:
            report.error(f"{path}.weight", str(exc))
            return None
        if isinstance(value, float) and not value.is_integer():
            report.warning(f"{path}.weight", fraction_warning(value))
        return weight
    number = whole(value)
    return None if number is None else Decimal(number)


def _restore_matches(value: Any, report: Report) -> tuple[TypedRef, ...]:
    refs: list[TypedRef] = []
    for item in value if isinstance(value, list) else [None]:
        if not (isinstance(item, dict) and isinstance(item.get("kind"), str) and isinstance(item.get("name"), str)):
            bad_preserved(report, _preserved.SPLIT_MATCHES)
            return ()
        group = item.get("apiGroup")
        refs.append(TypedRef(kind=item["kind"], name=item["name"], api_group=group if isinstance(group, str) else None))
    return tuple(refs)


def _restore_weights(backends: tuple[SplitBackend, ...], value: Any, report: Report) -> tuple[SplitBackend, ...]:
    try:
        if not isinstance(value, list) or len(value) != len(backends):
            raise QuantityError("length")
        originals = tuple(parse_weight(str(text)) for text in value)
    except QuantityError:
        bad_preserved(report, _preserved.SPLIT_WEIGHTS)
        return backends
    if whole_weights(originals) != tuple(int(b.weight) for b in backends):
        report.warning(
            f'metadata.annotations["{_preserved.ANNOTATION}"]',
            "preserved weights ignored: the weights were edited after conversion",
        )
        return backends
    return tuple(SplitBackend(service=b.service, weight=w) for b, w in zip(backends, originals, strict=True))


def preserved_weights(backends: tuple[SplitBackend, ...]) -> list[str]:
    """The exact weights as decimal strings (what the renderer stores)."""
    return [decimal_text(b.weight) for b in backends]
