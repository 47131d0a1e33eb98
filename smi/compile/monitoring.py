"""The monitoring level of each proxy, from the ``smi-mesh.io/monitoring`` annotation.

Decided in docs/semantics.md ("Monitoring on demand"): the annotation may be on the pod,
on its workload (the Deployment that owns it) or on its Namespace; the most specific one
that is present decides (pod, then workload, then namespace), and without any the level is
``routes`` (every series and tap, the behaviour before levels existed).  A value that is no
level (``smi.proxyconfig.monitoring.MONITORING_LEVELS``) is a problem naming the object,
the field and the value, and the default ``routes`` applies to what that object decides.

Pure: lookups on the ``MeshIndex``; the caller reports the problems.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from smi.compile.index import MeshIndex
from smi.model import Deployment, Namespace, Pod
from smi.proxyconfig.monitoring import DEFAULT_MONITORING, level_problem

MONITORING_ANNOTATION: Final = "smi-mesh.io/monitoring"
FIELD: Final = f"metadata.annotations[{MONITORING_ANNOTATION}]"


@dataclass(frozen=True, slots=True)
class Level:
    """A level and where it comes from: "Pod ns/name", "Deployment ns/name", "Namespace name" or "default"."""

    level: str = DEFAULT_MONITORING
    source: str = "default"
    problem: str | None = None  # the invalid annotation that made it the default

    def as_json(self) -> dict[str, str | None]:
        return {"level": self.level, "source": self.source, "problem": self.problem}


def annotated_level(what: str, annotations: Mapping[str, str]) -> Level | None:
    value = annotations.get(MONITORING_ANNOTATION)
    if value is None:
        return None
    why = level_problem(value.strip())
    if why is None:
        return Level(value.strip(), what)
    return Level(DEFAULT_MONITORING, what, f"{what}: {FIELD}: {why}; the default {DEFAULT_MONITORING!r} applies")


def namespace_level(index: MeshIndex, namespace: str) -> Level:
    found = index.by_name(Namespace).get(("", namespace))
    return (found and annotated_level(f"Namespace {namespace}", found.meta.annotations)) or Level()


def workload_level(index: MeshIndex, namespace: str, name: str) -> Level:
    """The level of a Deployment's pods unless a pod says otherwise."""
    found = index.by_name(Deployment).get((namespace, name)) if name else None
    own = found and annotated_level(f"Deployment {namespace}/{name}", found.meta.annotations)
    return own or namespace_level(index, namespace)


def pod_level(index: MeshIndex, pod: Pod) -> Level:
    """The level of the sidecar next to ``pod``."""
    ns = pod.meta.namespace
    own = annotated_level(f"Pod {ns}/{pod.meta.name}", pod.meta.annotations)
    return own or workload_level(index, ns, index.workload_of(pod))


def monitoring_problems(index: MeshIndex) -> Iterator[str]:
    """Every invalid monitoring annotation of the snapshot, one line each."""
    objects: list[Namespace | Deployment | Pod] = [
        *index.objects(Namespace),
        *index.objects(Deployment),
        *index.objects(Pod),
    ]
    for obj in objects:
        meta = obj.meta
        what = f"{obj.KIND} {meta.namespace}/{meta.name}" if meta.namespace else f"{obj.KIND} {meta.name}"
        found = annotated_level(what, meta.annotations)
        if found is not None and found.problem is not None:
            yield found.problem
