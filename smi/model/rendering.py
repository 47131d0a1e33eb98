"""Hub objects -> raw manifests of a chosen apiVersion (the inverse of parsing).

Conversion between versions is ``render(parse(raw), api_version=...)``.  Nothing is lost
silently: a field the target version cannot express is written into the
``smi-mesh.io/preserved-fields`` annotation (see :mod:`smi.model._preserved`), which the
parser restores, or -- with ``strict=True`` -- raises :class:`~smi.errors.ConversionError`.

=====================  ==========================================  ==========================
kind                   lost when rendering to                      preserved as
=====================  ==========================================  ==========================
TrafficSplit           matches -> v1alpha1/v1alpha2                ``spec.matches``
TrafficSplit           non-integer weights -> v1alpha2+            ``spec.backends[].weight``
TrafficTarget          destination port -> v1alpha3                ``spec.destination.port``
TrafficTarget          UDPRoute rules -> v1alpha1/v1alpha2         ``spec.rules``
HTTPRouteGroup         headers -> v1alpha1                         ``spec.matches[].headers``
TCPRoute               ports -> v1alpha1..v1alpha3                 ``spec.matches.ports``
=====================  ==========================================  ==========================

Non-integer v1alpha1 weights are scaled to integers with the same ratios
(:func:`~smi.model._quantity.whole_weights`) and the exact originals are preserved.
Headers are written in the list form (``- user-agent: ...``), as smi-sdk-go's CRD declares.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from smi.errors import ConversionError
from smi.model import _preserved
from smi.model._quantity import decimal_text, format_weight, whole_weights
from smi.model.access import IdentityRef, RuleRef, TrafficTarget
from smi.model.meta import ObjectMeta
from smi.model.resources import Resource
from smi.model.specs import HTTPRouteGroup, TCPRoute, UDPRoute
from smi.model.split import TrafficSplit

__all__ = ["Rendered", "render", "render_with_losses"]

SmiObject = TrafficSplit | TrafficTarget | HTTPRouteGroup | TCPRoute | UDPRoute


class Rendered(NamedTuple):
    raw: dict[str, Any]
    preserved: dict[str, Any]  # field -> value kept in the annotation (empty: nothing lost)


def render(obj: Resource, *, api_version: str, strict: bool = False) -> dict[str, Any]:
    """The manifest of ``obj`` in ``api_version`` (e.g. ``split.smi-spec.io/v1alpha2``)."""
    return render_with_losses(obj, api_version=api_version, strict=strict).raw


def render_with_losses(obj: Resource, *, api_version: str, strict: bool = False) -> Rendered:
    """Like :func:`render`, and also says which fields went into the preserved annotation."""
    if not isinstance(obj, TrafficSplit | TrafficTarget | HTTPRouteGroup | TCPRoute | UDPRoute):
        raise ConversionError(f"{type(obj).KIND} has one apiVersion ({type(obj).API_VERSION}); nothing to convert")
    group, _, version = api_version.rpartition("/")
    if group != obj.GROUP or version not in obj.VERSIONS:
        served = ", ".join(f"{obj.GROUP}/{v}" for v in obj.VERSIONS)
        raise ConversionError(f"{obj.KIND} cannot be rendered as {api_version!r}; it is served as {served}")
    lost: dict[str, Any] = {}
    if isinstance(obj, TrafficSplit):
        body = _split(obj, version, lost)
    elif isinstance(obj, TrafficTarget):
        body = _target(obj, version, lost)
    elif isinstance(obj, HTTPRouteGroup):
        body = _http_route_group(obj, version, lost)
    else:
        body = _l4_route(obj, version, lost)
    if lost and strict:
        raise ConversionError(
            f"{obj.KIND} {obj.meta.namespace}/{obj.meta.name}: {api_version} cannot express " + ", ".join(sorted(lost)),
            fields=sorted(lost),
        )
    raw: dict[str, Any] = {"apiVersion": api_version, "kind": obj.KIND, "metadata": render_meta(obj.meta, lost)}
    raw.update(body)
    return Rendered(raw, lost)


def render_meta(meta: ObjectMeta, preserved: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": meta.name}
    if meta.namespace:
        out["namespace"] = meta.namespace
    if meta.labels:
        out["labels"] = dict(meta.labels)
    annotations = dict(meta.annotations)
    if preserved:
        annotations[_preserved.ANNOTATION] = _preserved.encode(preserved)
    if annotations:
        out["annotations"] = annotations
    if meta.generation is not None:
        out["generation"] = meta.generation
    if meta.resource_version is not None:
        out["resourceVersion"] = meta.resource_version
    if meta.uid is not None:
        out["uid"] = meta.uid
    return out


def _split(obj: TrafficSplit, version: str, lost: dict[str, Any]) -> dict[str, Any]:
    weights: list[Any]
    if version == "v1alpha1":
        weights = [format_weight(b.weight) for b in obj.backends]
    else:
        weights = list(whole_weights(tuple(b.weight for b in obj.backends)))
        if any(w != b.weight for w, b in zip(weights, obj.backends, strict=True)):
            lost[_preserved.SPLIT_WEIGHTS] = [decimal_text(b.weight) for b in obj.backends]
    spec: dict[str, Any] = {
        "service": obj.service,
        "backends": [{"service": b.service, "weight": w} for b, w in zip(obj.backends, weights, strict=True)],
    }
    matches = [_typed_ref(m.kind, m.name, m.api_group) for m in obj.matches]
    if version in ("v1alpha3", "v1alpha4"):
        if matches:
            spec["matches"] = matches
    elif matches:
        lost[_preserved.SPLIT_MATCHES] = matches
    return {"spec": spec}


def _typed_ref(kind: str, name: str, api_group: str | None) -> dict[str, Any]:
    ref = {"kind": kind, "name": name}
    if api_group is not None:
        ref["apiGroup"] = api_group
    return ref


def _target(obj: TrafficTarget, version: str, lost: dict[str, Any]) -> dict[str, Any]:
    destination = _subject(obj.destination)
    if obj.destination_port is not None:
        if version == "v1alpha3":
            lost[_preserved.TARGET_PORT] = obj.destination_port
        else:
            destination["port"] = obj.destination_port
    rules: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    for index, rule in enumerate(obj.rules):
        if rule.kind == "UDPRoute" and version != "v1alpha3":
            dropped.append({"index": index, **_rule(rule)})
        else:
            rules.append(_rule(rule))
    if dropped:
        lost[_preserved.TARGET_RULES] = dropped
    body = {
        "destination": destination,
        "sources": [_subject(s) for s in obj.sources],
        "specs" if version == "v1alpha1" else "rules": rules,
    }
    return body if version == "v1alpha1" else {"spec": body}


def _subject(ref: IdentityRef) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": ref.kind, "name": ref.name}
    if ref.namespace is not None:
        out["namespace"] = ref.namespace
    return out


def _rule(rule: RuleRef) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": rule.kind, "name": rule.name}
    if rule.matches is not None:
        out["matches"] = list(rule.matches)
    return out


def _http_route_group(obj: HTTPRouteGroup, version: str, lost: dict[str, Any]) -> dict[str, Any]:
    matches: list[dict[str, Any]] = []
    headers_lost: dict[str, Any] = {}
    for index, match in enumerate(obj.matches):
        out: dict[str, Any] = {"name": match.name}
        if match.path_regex is not None:
            out["pathRegex"] = match.path_regex
        if match.methods:
            out["methods"] = list(match.methods)
        if match.headers:
            if version == "v1alpha1":
                headers_lost[str(index)] = [[name, regex] for name, regex in match.headers]
            else:
                out["headers"] = [{name: regex} for name, regex in match.headers]
        matches.append(out)
    if headers_lost:
        lost[_preserved.HTTP_HEADERS] = headers_lost
    return {"matches": matches} if version in ("v1alpha1", "v1alpha2") else {"spec": {"matches": matches}}


def _l4_route(obj: TCPRoute | UDPRoute, version: str, lost: dict[str, Any]) -> dict[str, Any]:
    if version == "v1alpha4":
        return {"spec": {"matches": {"ports": list(obj.ports)}}}
    if obj.ports:
        lost[_preserved.L4_PORTS] = list(obj.ports)
    return {"spec": {}} if version == "v1alpha3" else {}
