"""Discovery for the small groups ``smi metrics-api`` serves beside metrics.smi-spec.io (pure documents + routes).

Each group that an APIService registers to the metrics API's Service (tap.smi-mesh.io,
monitoring.smi-mesh.io) must answer ``/apis/GROUP`` (an ``APIGroup``) and
``/apis/GROUP/VERSION`` (an ``APIResourceList``): the aggregator's availability check and
kubectl's discovery read them.  They are served from memory and never authorized per user
(discovery is open to ``system:discovery``), so they answer while the API server or the
sidecars are down.  Each resource is named as the API server derives it from the request
path, so that an RBAC rule written from discovery matches what the aggregator authorizes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

VERSION: Final = "v1alpha1"


@dataclass(frozen=True, slots=True)
class Resource:
    """One entry of the ``APIResourceList``: ``name`` as RBAC sees it (``plural`` or ``plural/subresource``)."""

    name: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...]


def api_group(group: str, version: str = VERSION) -> dict[str, Any]:
    entry = {"groupVersion": f"{group}/{version}", "version": version}
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": [entry], "preferredVersion": entry}


def api_resource_list(group: str, resources: Sequence[Resource], version: str = VERSION) -> dict[str, Any]:
    listed = [
        {"name": r.name, "singularName": "", "namespaced": r.namespaced, "kind": r.kind, "verbs": list(r.verbs)}
        for r in resources
    ]
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}", "resources": listed}


def add_group_discovery(
    app: web.Application, group: str, resources: Sequence[Resource], version: str = VERSION
) -> None:
    """Serve ``/apis/GROUP`` and ``/apis/GROUP/VERSION`` on ``app`` from memory."""
    documents: dict[str, dict[str, Any]] = {
        f"/apis/{group}": api_group(group, version),
        f"/apis/{group}/{version}": api_resource_list(group, resources, version),
    }
    for path, document in documents.items():

        def answer(document: dict[str, Any]) -> Callable[[web.Request], Any]:
            async def handler(request: web.Request) -> web.Response:
                return web.json_response(document)

            return handler

        app.router.add_get(path, answer(document))


__all__ = ["VERSION", "Resource", "add_group_discovery", "api_group", "api_resource_list"]
