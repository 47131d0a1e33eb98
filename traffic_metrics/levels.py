"""The monitoring-level endpoint: read and switch the ``smi-mesh.io/monitoring`` level of a namespace or workload.

::

    GET  /apis/monitoring.smi-mesh.io/v1alpha1/levels[?namespace=NS]
         {"kind": "MonitoringLevelList", "items": [{"kind": "Namespace"|"Deployment", "namespace",
          "name", "annotation": <the object's value or null>, "level": <what applies>, "source":
          <the object that decides, or "default">, "problem": <an invalid value, or null>}, ...]}
    POST /apis/monitoring.smi-mesh.io/v1alpha1/namespaces/NS/level                  {"level": "off"}
    POST /apis/monitoring.smi-mesh.io/v1alpha1/namespaces/NS/deployments/NAME/level {"level": null}
         the item after the change; ``null`` clears the annotation (the next source decides)

Served by ``smi up`` (on its control address, as an overlay on the stored object) and by
``smi metrics-api`` in a cluster (a SubjectAccessReview for ``patch`` on the object for
the requesting user, then a merge patch of the annotation).  The page calls it from the
details panel.  Levels are defined in ``smi.proxyconfig.monitoring`` (docs/semantics.md).

In a cluster the APIService ``v1alpha1.monitoring.smi-mesh.io`` routes these paths to
``smi metrics-api``, which also serves the group's discovery (``add_level_discovery``).  The
aggregator authorizes each request before forwarding it, with the attributes the API server
derives from the path (``LEVEL_RESOURCES``; ClusterRole ``smi-monitor`` grants exactly those).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final, Protocol

from aiohttp import web

from smi.compile.monitoring import MONITORING_ANNOTATION, Level, annotated_level
from smi.proxyconfig.monitoring import MONITORING_LEVELS
from traffic_metrics.groupdiscovery import Resource, add_group_discovery

LEVELS_GROUP: Final = "monitoring.smi-mesh.io"
LEVELS_BASE: Final = f"/apis/{LEVELS_GROUP}/v1alpha1"
KINDS: Final = {"namespaces": "Namespace", "deployments": "Deployment"}
# What the API server's request parsing makes of each path (so discovery, RBAC and the
# aggregator agree): GET .../levels is verb ``list`` on cluster-scoped ``levels`` (also with
# ?namespace=); POST .../namespaces/NS/level is ``create`` on ``level`` in NS; POST
# .../namespaces/NS/deployments/NAME/level is ``create`` on ``deployments/level`` named NAME in NS.
LEVEL_RESOURCES: Final = (
    Resource("levels", "MonitoringLevel", False, ("list",)),
    Resource("level", "MonitoringLevel", True, ("create",)),
    Resource("deployments/level", "MonitoringLevel", True, ("create",)),
)


@dataclass(frozen=True, slots=True)
class Target:
    """The object whose annotation is switched: a Namespace (``namespace`` is its name) or a Deployment."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"Namespace {self.name}" if self.kind == "Namespace" else f"{self.kind} {self.namespace}/{self.name}"


class LevelError(Exception):
    """A refusal with its HTTP code (400 bad level, 403 not allowed, 404 unknown object, 502 cluster)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class Levels(Protocol):
    """Where levels are read and set: the local runtime's store, or a cluster's API server."""

    async def levels(self, request: web.Request, namespace: str | None) -> list[dict[str, Any]]: ...

    async def set_level(self, request: web.Request, target: Target, level: str | None) -> dict[str, Any]: ...


def parse_level(body: Any) -> str | None:
    """The ``level`` of a POST body (None: clear); LevelError 400 naming the field otherwise."""
    if not isinstance(body, dict) or "level" not in body:
        raise LevelError(400, 'body must be {"level": "off" | "golden" | "routes" | null}')
    level = body["level"]
    if level is None or level in MONITORING_LEVELS:
        return level  # type: ignore[no-any-return]
    raise LevelError(400, f"level: must be one of {', '.join(MONITORING_LEVELS)} (or null to clear), got {level!r}")


def item(
    target: Target, annotations: dict[str, str] | Any, level: str, source: str, problem: str | None
) -> dict[str, Any]:
    """One answer item (``annotations``: the object's, where the raw value is read)."""
    return {
        "kind": target.kind,
        "namespace": target.namespace if target.kind != "Namespace" else "",
        "name": target.name,
        "annotation": annotations.get(MONITORING_ANNOTATION),
        "level": level,
        "source": source,
        "problem": problem,
    }


def _raw_item(kind: str, obj: dict[str, Any], level: Level) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    target = Target(kind, str(meta.get("namespace") or meta.get("name", "")), str(meta.get("name", "")))
    return item(target, meta.get("annotations") or {}, level.level, level.source, level.problem)


def levels_of(namespaces: list[dict[str, Any]], deployments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items of Kubernetes objects as the API server gives them (a cluster's Namespaces and Deployments)."""
    out, by_ns = [], {}
    for obj in namespaces:
        meta = obj.get("metadata") or {}
        name = str(meta.get("name", ""))
        by_ns[name] = annotated_level(f"Namespace {name}", meta.get("annotations") or {}) or Level()
        out.append(_raw_item("Namespace", obj, by_ns[name]))
    for obj in deployments:
        meta = obj.get("metadata") or {}
        ns, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        own = annotated_level(f"Deployment {ns}/{name}", meta.get("annotations") or {})
        out.append(_raw_item("Deployment", obj, own or by_ns.get(ns, Level())))
    return out


def _status(code: int, message: str) -> web.Response:
    reasons = {400: "BadRequest", 403: "Forbidden", 404: "NotFound", 502: "BadGateway"}
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
            "reason": reasons.get(code, "InternalError"), "code": code}  # fmt: skip
    return web.json_response(body, status=code)


def add_level_routes(app: web.Application, levels: Levels) -> None:
    """Serve the endpoint on ``app`` (next to the metrics API and the page)."""

    async def listing(request: web.Request) -> web.StreamResponse:
        try:
            items = await levels.levels(request, request.query.get("namespace") or None)
        except LevelError as exc:
            return _status(exc.code, str(exc))
        return web.json_response({"kind": "MonitoringLevelList", "apiVersion": f"{LEVELS_GROUP}/v1alpha1",
                                  "items": items})  # fmt: skip

    async def switch(request: web.Request) -> web.StreamResponse:
        ns = request.match_info["ns"]
        plural = request.match_info.get("plural")
        target = (
            Target("Namespace", ns, ns)
            if plural is None
            else Target(KINDS.get(plural, ""), ns, request.match_info["name"])
        )
        try:
            if not target.kind:
                raise LevelError(
                    404, f"cannot set the monitoring level of {plural!r}: known kinds are namespaces, deployments"
                )
            try:
                body = await request.json()
            except json.JSONDecodeError:
                raise LevelError(400, "body: not JSON") from None
            return web.json_response(await levels.set_level(request, target, parse_level(body)))
        except LevelError as exc:
            return _status(exc.code, str(exc))

    app.router.add_get(LEVELS_BASE + "/levels", listing)
    app.router.add_post(LEVELS_BASE + "/namespaces/{ns}/level", switch)
    app.router.add_post(LEVELS_BASE + "/namespaces/{ns}/{plural}/{name}/level", switch)


def add_level_discovery(app: web.Application) -> None:
    """``/apis/monitoring.smi-mesh.io[/v1alpha1]`` from memory (discovery is never authorized per user)."""
    add_group_discovery(app, LEVELS_GROUP, LEVEL_RESOURCES)


__all__ = [
    "LEVELS_BASE", "LEVELS_GROUP", "LEVEL_RESOURCES", "LevelError", "Levels", "Target", "add_level_discovery",
    "add_level_routes", "item", "levels_of", "parse_level",
]  # fmt: skip
