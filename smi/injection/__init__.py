"""Sidecar injection: the mutating admission webhook that puts a pod in the mesh.

* ``settings``: ``InjectionSettings`` (image, control-plane URL, uid, ports, resources) and
  the annotation / label names users set.
* ``deciding``: whether a pod is injected (opt-out annotation, hostNetwork, already injected)
  and the per-pod capture exclusions read from its annotations.
* ``containers``: the sidecar container, the ``proxy-init`` init container and the projected
  token volume, as raw Kubernetes dicts.
* ``patches``: RFC 6902 JSON Patch ops (and a small ``add``-only applier for previews and tests).
* ``injecting``: the pure ``inject(pod, settings=...) -> list[JSONPatchOp]``.
* ``webhook``: the aiohttp handler answering ``admission.k8s.io/v1`` AdmissionReviews.

Which pods: namespaces opt in with the label ``smi-mesh.io/monitored-by`` (any value; the
webhook's namespaceSelector is ``Exists``, so the API server never even asks about pods
elsewhere); pods opt out with the annotation ``smi-mesh.io/inject: "false"``; hostNetwork
pods are never injected (capture would rewrite the node's iptables).  See docs/cluster-mode.md.
"""

from smi.injection.deciding import InvalidAnnotation, MalformedPod, skip_reason
from smi.injection.injecting import inject
from smi.injection.patches import JSONPatchOp, apply_patch
from smi.injection.settings import (
    ANNOTATION_EXCLUDE_INBOUND_PORTS,
    ANNOTATION_EXCLUDE_OUTBOUND_CIDRS,
    ANNOTATION_EXCLUDE_OUTBOUND_PORTS,
    ANNOTATION_INBOUND_PORT,
    ANNOTATION_INJECT,
    NAMESPACE_LABEL,
    InjectionSettings,
)

__all__ = [
    "ANNOTATION_EXCLUDE_INBOUND_PORTS",
    "ANNOTATION_EXCLUDE_OUTBOUND_CIDRS",
    "ANNOTATION_EXCLUDE_OUTBOUND_PORTS",
    "ANNOTATION_INBOUND_PORT",
    "ANNOTATION_INJECT",
    "NAMESPACE_LABEL",
    "InjectionSettings",
    "InvalidAnnotation",
    "JSONPatchOp",
    "MalformedPod",
    "apply_patch",
    "inject",
    "skip_reason",
]
