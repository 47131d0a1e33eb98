"""Kubernetes Events for SMI objects that are not in effect (``Accepted=False``).

Invalid objects get their Event from the kopf handler that rejects them
(``smi.kubefeed.registering``).  A valid object can still have no effect (a missing root
Service, a conflict, no usable rule): the status writer posts one Warning Event, with the
condition's reason and message, each time an object's ``Accepted`` condition becomes False
or changes its reason or message while False, so ``kubectl describe`` and ``kubectl get
events`` say why.  Events are best effort: a failed post is logged, never retried.
"""

from __future__ import annotations

import uuid
from typing import Any

from smi.kubefeed.watched import Watched
from smi.model import ObjectKey

COMPONENT = "smi-controller"


def not_accepted_event(
    key: ObjectKey, where: Watched, *, uid: str | None, reason: str, message: str, now: str
) -> tuple[str, dict[str, Any]]:
    """The path to post to and the core/v1 Event body."""
    involved: dict[str, Any] = {
        "apiVersion": where.api_version,
        "kind": key.kind,
        "name": key.name,
        "namespace": key.namespace,
    }
    if uid:
        involved["uid"] = uid
    body = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{key.name}.{uuid.uuid4().hex[:16]}", "namespace": key.namespace},
        "involvedObject": involved,
        "type": "Warning",
        "reason": reason,
        "message": message[:1000],
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    return f"/api/v1/namespaces/{key.namespace}/events", body
