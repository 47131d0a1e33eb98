"""Pod synthesis: what a ReplicaSet controller would create for each Deployment.

Each pod carries, as in a cluster, a controller ``ownerReference`` to the ReplicaSet
``<deployment>-<template hash>`` and the label ``pod-template-hash``; the runtime keeps no
ReplicaSet objects, so the compile names the workload by stripping the hash
(``smi.model.owners``).

Pure functions from a Deployment to the Pods it wants.  A pod is named
``<deployment>-<template hash>-<5 random alnum>``: the hash (10 hex digits) covers the pod
template, so editing a Deployment's template (command, env, labels, …) gives new pod names
and the runtime replaces the pods; changing only ``replicas`` keeps the hash and adds or
removes pods.
"""

from __future__ import annotations

import hashlib
import random
import string
from dataclasses import replace

from smi.model import Deployment, ObjectMeta, OwnerReference, Pod
from smi.runtime.addresses import INBOUND_PORT

INBOUND_PORT_ANNOTATION = "smi-mesh.io/inbound-port"
APP_ADDRESS_ANNOTATION = "smi-mesh.io/app-address"
OWNER_ANNOTATION = "smi-mesh.io/owner"  # <deployment name>: lets status and metrics name the workload
TEMPLATE_HASH_LABEL = "pod-template-hash"

_ALNUM = string.ascii_lowercase + string.digits


def template_hash(deployment: Deployment) -> str:
    """10 hex digits that change whenever the pod template changes."""
    text = repr(
        (
            sorted(deployment.template_labels.items()),
            sorted(deployment.template_annotations.items()),
            deployment.template,
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def pod_name(deployment: Deployment, *, rng: random.Random) -> str:
    suffix = "".join(rng.choice(_ALNUM) for _ in range(5))
    return f"{deployment.meta.name}-{template_hash(deployment)}-{suffix}"


def synthesize(deployment: Deployment, *, name: str, pod_ip: str) -> Pod:
    """A Pending pod of ``deployment`` at ``pod_ip``, meshed (carries the sidecar annotations)."""
    annotations = dict(deployment.template_annotations)
    annotations[INBOUND_PORT_ANNOTATION] = str(INBOUND_PORT)
    annotations[APP_ADDRESS_ANNOTATION] = pod_ip
    annotations[OWNER_ANNOTATION] = deployment.meta.name
    labels = dict(deployment.template_labels)
    digest = labels[TEMPLATE_HASH_LABEL] = template_hash(deployment)
    # as in a cluster: the pod's controller is the ReplicaSet <deployment>-<hash> (smi.model.owners)
    owner = OwnerReference("ReplicaSet", f"{deployment.meta.name}-{digest}", "apps/v1", controller=True)
    return Pod(
        meta=ObjectMeta(
            name=name,
            namespace=deployment.meta.namespace,
            labels=labels,
            annotations=annotations,
            owner_references=(owner,),
        ),
        spec=deployment.template,
        pod_ip=pod_ip,
        phase="Pending",
        ready=False,
    )


def with_state(pod: Pod, *, phase: str, ready: bool) -> Pod:
    return replace(pod, phase=phase, ready=ready)


def owned_by(pod: Pod, deployment: Deployment) -> bool:
    return (
        pod.meta.namespace == deployment.meta.namespace
        and pod.meta.annotations.get(OWNER_ANNOTATION) == deployment.meta.name
    )


def is_current(pod: Pod, deployment: Deployment) -> bool:
    """Whether ``pod`` was made from the deployment's current template."""
    return owned_by(pod, deployment) and pod.meta.labels.get(TEMPLATE_HASH_LABEL) == template_hash(deployment)
