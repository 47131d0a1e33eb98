"""Whether a pod gets a sidecar, and the capture exclusions its annotations ask for.

A pod is skipped (no patch, with a reason for the log) when it opts out
(``smi-mesh.io/inject: "false"``), uses the host's network namespace, or is already
injected (it has the sidecar or the ``smi-mesh.io/inbound-port`` annotation), which makes
injection idempotent.  The namespace opt-in is the webhook's namespaceSelector.

Two kinds of bad input are told apart:

* ``MalformedPod``: the body is not a pod we can patch (``spec.containers`` missing, a
  field of the wrong type).  The webhook lets it through unpatched and logs it: the API
  server's own validation will judge it, and an unrelated pod is never blocked by us.
* ``InvalidAnnotation``: the pod asks for injection with an exclusion annotation we cannot
  read.  The webhook denies it with the message, which names the pod, the annotation and
  the reason, because admitting it would silently run it unmeshed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from smi.injection.settings import (
    ANNOTATION_EXCLUDE_INBOUND_PORTS,
    ANNOTATION_EXCLUDE_OUTBOUND_CIDRS,
    ANNOTATION_EXCLUDE_OUTBOUND_PORTS,
    ANNOTATION_INBOUND_PORT,
    ANNOTATION_INJECT,
    INIT_NAME,
    SIDECAR_NAME,
    InjectionSettings,
)
from smi.proxyconfig.capture import parse_cidrs, parse_ports

OPT_OUT_VALUES = frozenset({"false", "no", "off", "disabled"})


class MalformedPod(ValueError):
    """The object is not a pod the injector can patch."""


class InvalidAnnotation(ValueError):
    """A pod's injection annotation cannot be read; the message names pod, annotation and reason."""


@dataclass(frozen=True, slots=True)
class Exclusions:
    inbound_ports: tuple[int, ...]
    outbound_ports: tuple[int, ...]
    outbound_cidrs: tuple[str, ...]


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise MalformedPod(f"{what}: expected an object, got {type(value).__name__}")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedPod(f"{what}: expected a list, got {type(value).__name__}")
    return value


def pod_name(pod: Any, *, namespace: str = "") -> str:
    """``ns/name`` for messages (``ns/prefix-*`` for a pod that only has a generateName yet)."""
    meta = pod.get("metadata") if isinstance(pod, Mapping) else None
    meta = meta if isinstance(meta, Mapping) else {}
    name = meta.get("name") or (f"{meta['generateName']}*" if meta.get("generateName") else "<unnamed>")
    ns = meta.get("namespace") or namespace or "<namespace>"
    return f"{ns}/{name}"[:300]


def pod_annotations(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    return _mapping(_mapping(pod.get("metadata"), "metadata").get("annotations"), "metadata.annotations")


def skip_reason(pod: Mapping[str, Any]) -> str | None:
    """Why this pod gets no sidecar, or None when it should get one."""
    if not isinstance(pod, Mapping):
        raise MalformedPod(f"expected a Pod object, got {type(pod).__name__}")
    spec = _mapping(pod.get("spec"), "spec")
    notes = pod_annotations(pod)
    if str(notes.get(ANNOTATION_INJECT, "")).strip().lower() in OPT_OUT_VALUES:
        return f"annotation {ANNOTATION_INJECT}={notes[ANNOTATION_INJECT]!r} opts out"
    if spec.get("hostNetwork") is True:
        return "hostNetwork pod (capture would change the node's iptables)"
    names = set()
    for field in ("containers", "initContainers"):
        for index, item in enumerate(_list(spec.get(field), f"spec.{field}")):
            if not isinstance(item, Mapping):
                raise MalformedPod(f"spec.{field}[{index}]: expected an object, got {type(item).__name__}")
            names.add(item.get("name"))
    _list(spec.get("volumes"), "spec.volumes")
    if ANNOTATION_INBOUND_PORT in notes or SIDECAR_NAME in names or INIT_NAME in names:
        return "already injected"
    if not _list(spec.get("containers"), "spec.containers"):
        raise MalformedPod("spec.containers: a pod needs at least one container")
    return None


def exclusions(pod: Mapping[str, Any], *, settings: InjectionSettings, namespace: str = "") -> Exclusions:
    """The settings' cluster-wide exclusions plus the pod's own annotations."""
    notes = pod_annotations(pod)

    def read(annotation: str, parse: Any) -> tuple[Any, ...]:
        raw = notes.get(annotation)
        if raw is None:
            return ()
        try:
            parsed: tuple[Any, ...] = parse(str(raw), what=f"annotation {annotation}")
        except ValueError as e:
            raise InvalidAnnotation(f"Pod {pod_name(pod, namespace=namespace)}: {e}") from None
        return parsed

    return Exclusions(
        inbound_ports=tuple(
            dict.fromkeys((*settings.exclude_inbound_ports, *read(ANNOTATION_EXCLUDE_INBOUND_PORTS, parse_ports)))
        ),
        outbound_ports=tuple(
            dict.fromkeys((*settings.exclude_outbound_ports, *read(ANNOTATION_EXCLUDE_OUTBOUND_PORTS, parse_ports)))
        ),
        outbound_cidrs=tuple(
            dict.fromkeys((*settings.exclude_outbound_cidrs, *read(ANNOTATION_EXCLUDE_OUTBOUND_CIDRS, parse_cidrs)))
        ),
    )
