"""Version conversion of SMI objects: one raw manifest, and the CRD ConversionReview webhook.

Both go through the hub model: ``render(parse(raw), api_version=target)``.  The webhook
(:func:`convert_review`) is pure: the controller serves it at ``/convert`` for the CRDs'
``spec.conversion.strategy: Webhook``.  It keeps each object's metadata as the API server
sent it (only the preserved-fields annotation changes) and its ``status`` unchanged, since
the status schema is the same in every version.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from smi.errors import ConversionError, InvalidObject
from smi.model import _preserved
from smi.model.parsing import parse
from smi.model.rendering import Rendered, render_with_losses

REVIEW_API_VERSION = "apiextensions.k8s.io/v1"


def convert(raw: Mapping[str, Any], *, to: str, source: str = "<input>", strict: bool = False) -> Rendered:
    """``raw`` rendered in apiVersion ``to``; raises InvalidObject or ConversionError.

    Metadata the hub does not model (``ownerReferences``, ``finalizers``, timestamps, ...)
    is kept as written, after the fields the hub renders: a converted object still belongs
    to its owner (e.g. the Flagger Canary or Argo Rollout that made it).
    """
    rendered = render_with_losses(parse(raw, source=source), api_version=to, strict=strict)
    written = raw.get("metadata")
    if isinstance(written, Mapping):
        metadata = rendered.raw["metadata"]
        for key, value in written.items():
            if key not in metadata and key != "annotations":
                metadata[key] = copy.deepcopy(value)
    return rendered


def convert_review(review: Mapping[str, Any]) -> dict[str, Any]:
    """Answer an ``apiextensions.k8s.io/v1`` ConversionReview (never raises on bad input)."""
    request = review.get("request") if isinstance(review, Mapping) else None
    uid = request.get("uid", "") if isinstance(request, Mapping) else ""
    response: dict[str, Any] = {"uid": uid}
    try:
        if not isinstance(request, Mapping):
            raise ConversionError("the review has no request")
        desired = request.get("desiredAPIVersion")
        objects = request.get("objects")
        if not isinstance(desired, str) or not isinstance(objects, list):
            raise ConversionError("the request needs desiredAPIVersion and a list of objects")
        response["convertedObjects"] = [_convert_one(obj, desired) for obj in objects]
        response["result"] = {"status": "Success"}
    except (InvalidObject, ConversionError) as exc:
        response["result"] = {"status": "Failure", "message": str(exc)}
    return {"apiVersion": REVIEW_API_VERSION, "kind": "ConversionReview", "response": response}


def _convert_one(obj: Any, desired: str) -> dict[str, Any]:
    if isinstance(obj, Mapping) and obj.get("apiVersion") == desired:
        return dict(obj)
    rendered = render_with_losses(parse(obj, source="conversion"), api_version=desired).raw
    metadata = copy.deepcopy(dict(obj["metadata"]))
    annotations = dict(metadata.get("annotations") or {})
    annotations.pop(_preserved.ANNOTATION, None)
    new = rendered["metadata"].get("annotations", {}).get(_preserved.ANNOTATION)
    if new is not None:
        annotations[_preserved.ANNOTATION] = new
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    rendered["metadata"] = metadata
    if "status" in obj:
        rendered["status"] = copy.deepcopy(obj["status"])
    return rendered
