"""What the controller watches: the core kinds at ``v1``, and every group's kinds at ONE version.

The groups declare their kinds and served versions (``<group package>.group.KINDS``);
this module only chooses the version watched.  The API server converts every stored
object to whichever served version a client asks for (the CRDs' conversion webhook,
``/convert``), so watching one version sees every object exactly once, whatever version
it was written in.  Watching every served version would deliver each object once per
version, each delivery a hub object with a different ``api_version``: needless store
changes and recompiles.  The version watched is the storage (newest) version of each
CRD; a setting (``ControllerSettings.smi_versions``, for a cluster whose CRDs serve
something else) rather than a loop over the served versions.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from smi.groups import MESH_GROUPS
from smi.kubefeed.watched import Watched, watches

CORE: tuple[Watched, ...] = (
    Watched("", "v1", "namespaces", "Namespace", namespaced=False),
    Watched("", "v1", "serviceaccounts", "ServiceAccount"),
    Watched("", "v1", "services", "Service"),
    Watched("", "v1", "pods", "Pod"),
    Watched("", "v1", "endpoints", "Endpoints"),
    Watched("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
    Watched("apps", "v1", "deployments", "Deployment"),
    Watched("apps", "v1", "replicasets", "ReplicaSet"),  # only their owners: a pod's workload (smi.model.owners)
)

WATCHED_VERSIONS: Final[Mapping[str, str]] = MappingProxyType(
    {gk.kind: gk.newest for group in MESH_GROUPS for gk in group.kinds}
)  # kind -> the version watched by default (the newest served)

SMI: tuple[Watched, ...] = tuple(w for group in MESH_GROUPS for w in watches(group.kinds, versions=WATCHED_VERSIONS))
ALL: tuple[Watched, ...] = CORE + SMI

__all__ = ["ALL", "CORE", "SMI", "WATCHED_VERSIONS", "Watched", "watches"]
