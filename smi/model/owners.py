"""Which workload a pod belongs to, from its controller ``ownerReference`` (pure).

A pod's workload is the top controller a user asks about:

* a ReplicaSet's pod belongs to the ReplicaSet's controller when that is a Deployment
  or an Argo Rollout (``argoproj.io`` ``Rollout``), to the ReplicaSet itself when it has
  no such owner; while the ReplicaSet is not known yet (its watch event has not arrived),
  the name is the ReplicaSet's without its ``-<pod-template-hash>`` suffix (the
  Deployment controller names ReplicaSets ``<deployment>-<hash>`` and labels their pods
  ``pod-template-hash=<hash>``; Argo Rollouts does the same with
  ``rollouts-pod-template-hash``);
* a StatefulSet's, DaemonSet's or Job's pod belongs to it directly (a CronJob's Job
  stays the Job: each run is a workload of its own);
* a pod without a controller has no workload (``("", "")``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

TEMPLATE_HASH_LABEL: Final = "pod-template-hash"
ROLLOUT_HASH_LABEL: Final = "rollouts-pod-template-hash"
REPLICASET_OWNERS: Final = frozenset({"Deployment", "Rollout"})

Owner = tuple[str, str]  # (kind, name); ("", "") for none


def replica_set_owner(controller: Owner | None, name: str) -> Owner:
    """What a known ReplicaSet's pods belong to: its Deployment or Rollout, else the ReplicaSet itself."""
    if controller is not None and controller[0] in REPLICASET_OWNERS:
        return controller
    return "ReplicaSet", name


def workload_of(
    controller: Owner | None, labels: Mapping[str, str], replica_set: Callable[[str], Owner | None]
) -> Owner:
    """(kind, name) of the workload of a pod whose controller reference is ``controller``.

    ``replica_set(name)``: :func:`replica_set_owner` of the pod's ReplicaSet when it is
    known (in the pod's namespace), None when it is not.
    """
    if controller is None:
        return "", ""
    kind, name = controller
    if kind != "ReplicaSet":
        return kind, name
    known = replica_set(name)
    if known is not None:
        return known
    for label, owner_kind in ((TEMPLATE_HASH_LABEL, "Deployment"), (ROLLOUT_HASH_LABEL, "Rollout")):
        suffix = labels.get(label)
        if suffix and name.endswith(f"-{suffix}") and len(name) > len(suffix) + 1:
            return owner_kind, name[: -len(suffix) - 1]
    return "ReplicaSet", name
