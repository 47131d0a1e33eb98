"""Objects and runtime state as JSON-able data, for ``smi get`` and ``smi status``.

Objects are rendered as Kubernetes manifests by ``smi.model.rendering`` in the version they
were read in; what the renderer does not cover (synthesized Pods, say) falls back to a
plain dump of the hub dataclass.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from smi.model import Pod, Resource

_POD_STATE = {"pod_ip": "podIP", "phase": "phase", "ready": "ready"}

logger = logging.getLogger(__name__)


def plain(value: Any) -> Any:
    """A hub value as JSON-able data (dataclasses → dicts, tuples → lists, Decimal → number)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def manifest(obj: Resource) -> dict[str, Any]:
    """The object as a manifest (or a plain dump with kind and metadata when it cannot be rendered)."""
    api_version = getattr(obj, "api_version", None) or type(obj).API_VERSION  # type: ignore[union-attr]
    try:
        from smi.model.rendering import render

        rendered: dict[str, Any] = render(obj, api_version=api_version)
    except Exception:  # not renderable (yet): show the hub object's fields under spec
        body = plain(obj)
        meta = {k: v for k, v in body.pop("meta", {}).items() if v not in (None, {}, [])}
        status = {name: body.pop(field) for field, name in _POD_STATE.items() if field in body}
        spec = {**body.pop("spec", {}), **body}
        rendered = {"apiVersion": api_version, "kind": type(obj).KIND, "metadata": meta, "spec": spec}
        if status:
            rendered["status"] = status
        return rendered
    if isinstance(obj, Pod):  # the runtime's view of its state
        rendered.setdefault("status", {}).update({"podIP": obj.pod_ip, "phase": obj.phase, "ready": obj.ready})
    return rendered


def age(seconds: float) -> str:
    if seconds < 120:
        return f"{int(seconds)}s"
    if seconds < 7200:
        return f"{int(seconds // 60)}m"
    return f"{int(seconds // 3600)}h"


def since(timestamp: float | None) -> str:
    return age(time.time() - timestamp) if timestamp else "-"
