"""The monitoring-level endpoint in a cluster (``smi metrics-api``): reviewed, then patched for the user.

The user is the one the aggregator vouches for (``traffic_metrics.security.user_of``).
Reading lists the Namespaces and Deployments of each namespace where the user may ``list``
Deployments; switching first asks a SubjectAccessReview whether the user may ``patch`` the
target (``namespaces`` in the core group, ``deployments`` in ``apps``), then merge-patches
its ``smi-mesh.io/monitoring`` annotation with the server's own identity (its ClusterRole
allows that patch, manifests/install/metrics-api.yaml): the page can do no more than the
user could with ``kubectl annotate``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from smi.compile.monitoring import MONITORING_ANNOTATION
from traffic_metrics.kube import Kube, KubeError
from traffic_metrics.levels import LevelError, Target, levels_of
from traffic_metrics.security import Authorizer, RequestHeaderConfig, User, user_of
from traffic_metrics.server import Attributes

MERGE_PATCH = "application/merge-patch+json"


def _path(kind: str, namespace: str, name: str) -> str:
    if kind == "Namespace":
        return f"/api/v1/namespaces/{quote(name)}"
    return f"/apis/apps/v1/namespaces/{quote(namespace)}/deployments/{quote(name)}"


class ClusterLevels:
    """``traffic_metrics.levels.Levels`` against the API server, for the user of each request."""

    def __init__(self, kube: Kube, config: RequestHeaderConfig, *, ttl: float = 10.0, cache_size: int = 1024) -> None:
        self.kube = kube
        self.config = config
        self._reviews = Authorizer(kube, config, ttl=ttl, cache_size=cache_size)  # cached SubjectAccessReviews

    async def allowed(
        self, user: User, verb: str, group: str, resource: str, ns: str, name: str = ""
    ) -> tuple[bool, str]:
        """May ``user`` do ``verb`` on ``resource`` (core ``""`` or ``apps``, version v1): (allowed, reason)."""
        attrs = Attributes(verb=verb, resource=resource, namespace=ns, name=name, group=group, version="v1")
        return await self._reviews.decide(user, attrs)

    async def levels(self, request: web.Request, namespace: str | None) -> list[dict[str, Any]]:
        user = user_of(request, self.config)
        try:
            if namespace:
                found = await self.kube.request("GET", _path("Namespace", "", namespace))
                namespaces = [found] if isinstance(found, dict) else []
            else:
                namespaces = await self.kube.items("/api/v1/namespaces")
            visible = []
            for obj in namespaces:
                name = str((obj.get("metadata") or {}).get("name", ""))
                if (await self.allowed(user, "list", "apps", "deployments", name))[0]:
                    visible.append(obj)
            deployments = []
            for obj in visible:
                name = quote(str((obj.get("metadata") or {}).get("name", "")))
                deployments += await self.kube.items(f"/apis/apps/v1/namespaces/{name}/deployments")
        except KubeError as exc:
            raise LevelError(404 if exc.status == 404 else 502, str(exc)) from exc
        return levels_of(visible, deployments)

    async def set_level(self, request: web.Request, target: Target, level: str | None) -> dict[str, Any]:
        user = user_of(request, self.config)
        group, resource = ("", "namespaces") if target.kind == "Namespace" else ("apps", "deployments")
        ns = "" if target.kind == "Namespace" else target.namespace
        allowed, reason = await self.allowed(user, "patch", group, resource, ns, target.name)
        if not allowed:
            where = f" in namespace {ns}" if ns else ""
            message = f'user "{user.name}" cannot patch {resource} "{target.name}"{where}' + (
                f": {reason}" if reason else ""
            )
            raise LevelError(403, message)
        patch = {"metadata": {"annotations": {MONITORING_ANNOTATION: level}}}  # null removes the annotation
        try:
            changed = await self.kube.request(
                "PATCH", _path(target.kind, ns, target.name), patch, content_type=MERGE_PATCH
            )
            if target.kind == "Namespace":
                return levels_of([changed], [])[0]
            namespace = await self.kube.request("GET", _path("Namespace", "", target.namespace))
        except KubeError as exc:
            if exc.status == 404:
                raise LevelError(404, f"{target}: not found") from exc
            raise LevelError(502, f"{target}: {exc}") from exc
        return levels_of([namespace], [changed])[-1]
