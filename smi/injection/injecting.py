"""``inject``: the JSON Patch that adds the sidecar to one pod (pure: raw pod in, ops out).

The ops, in order: the ``smi-mesh.io/inbound-port`` annotation (which marks the pod as
meshed for the control plane), the init container (appended *last*, so init containers the
pod already has run with an uncaptured network), the sidecar (appended after the app's
containers) and the token volume.  A missing list or map is added whole, since JSON Patch
cannot append to what does not exist.  An already-injected or skipped pod gets ``[]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smi.injection.containers import init_container, sidecar, termination_grace, token_volume
from smi.injection.deciding import exclusions, skip_reason
from smi.injection.patches import JSONPatchOp, add, pointer
from smi.injection.settings import (
    ANNOTATION_INBOUND_PORT,
    PROMETHEUS_PATH,
    PROMETHEUS_PORT,
    PROMETHEUS_SCRAPE,
    InjectionSettings,
)


def _append(spec: Mapping[str, Any], field: str, item: dict[str, Any]) -> JSONPatchOp:
    if field in spec and spec[field] is not None:
        return add(pointer("spec", field, "-"), item)
    return add(pointer("spec", field), [item])


def inject(pod: Mapping[str, Any], *, settings: InjectionSettings, namespace: str = "") -> list[JSONPatchOp]:
    """RFC 6902 ops adding the sidecar to ``pod`` (``[]`` when it is skipped or already injected).

    Raises ``MalformedPod`` for a body that is not a patchable pod and ``InvalidAnnotation``
    for an unreadable exclusion annotation (``namespace`` is only used in that message).
    """
    if skip_reason(pod) is not None:
        return []
    excluded = exclusions(pod, settings=settings, namespace=namespace)
    metadata = pod.get("metadata")
    spec: Mapping[str, Any] = pod["spec"]
    notes = {ANNOTATION_INBOUND_PORT: str(settings.inbound_port)}
    existing = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    if not (isinstance(existing, Mapping) and PROMETHEUS_SCRAPE in existing):  # the pod's own scrape settings win
        notes |= {PROMETHEUS_SCRAPE: "true", PROMETHEUS_PORT: str(settings.metrics_port),
                  PROMETHEUS_PATH: settings.metrics_path}  # fmt: skip
    ops: list[JSONPatchOp] = []
    if not isinstance(metadata, Mapping):
        ops.append(add(pointer("metadata"), {"annotations": notes}))
    elif metadata.get("annotations") is None:
        ops.append(add(pointer("metadata", "annotations"), notes))
    else:
        ops += [add(pointer("metadata", "annotations", key), value) for key, value in notes.items()]
    ops.append(_append(spec, "initContainers", init_container(settings, excluded)))
    ops.append(_append(spec, "containers", sidecar(settings)))
    ops.append(_append(spec, "volumes", token_volume(settings)))
    grace = termination_grace(settings, spec.get("terminationGracePeriodSeconds"))
    if grace is not None:
        ops.append(add(pointer("spec", "terminationGracePeriodSeconds"), grace))
    return ops
