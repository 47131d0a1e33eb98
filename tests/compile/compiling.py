"""The compile as the tests call it: a ``Compiler`` over the mesh's groups, per call.

A test that wants index reuse across calls passes one ``IndexCache`` (the Compiler's
only state); without one every call starts from a fresh cache.
"""

from __future__ import annotations

from collections.abc import Mapping

from smi.compile import Compiler, IndexCache, MeshSettings, ObjectStatus
from smi.groups import MESH_GROUPS
from smi.model import ObjectKey
from smi.proxyconfig import ProxyConfig
from smi.state import Snapshot


def compiler(settings: MeshSettings | None = None, cache: IndexCache | None = None) -> Compiler:
    return Compiler(settings or MeshSettings(), MESH_GROUPS, cache=cache)


def compile_proxy(
    snapshot: Snapshot, *, namespace: str, pod: str, settings: MeshSettings, cache: IndexCache | None = None
) -> ProxyConfig | None:
    return compiler(settings, cache).compile_proxy(snapshot, namespace=namespace, pod=pod)


def object_statuses(
    snapshot: Snapshot, *, settings: MeshSettings | None = None, cache: IndexCache | None = None
) -> Mapping[ObjectKey, ObjectStatus]:
    return compiler(settings, cache).statuses(snapshot)
