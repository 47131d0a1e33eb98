"""The metrics.smi-spec.io/v1alpha1 aggregated API over aiohttp.

::

    GET /apis, /apis/metrics.smi-spec.io, /apis/metrics.smi-spec.io/v1alpha1     discovery (memory)
    GET /api, /openapi/v2, /openapi/v3[/apis/metrics.smi-spec.io/v1alpha1], /version
    GET /healthz /livez /readyz                                                    always 200 when serving
    GET /apis/metrics.smi-spec.io/v1alpha1/{plural}                                list, all namespaces
    GET .../namespaces/{name}[/edges]                                              a namespace, its edges
    GET .../namespaces/{ns}/{plural}[/{name}[/edges]]                              list, get, edges

Query parameters: ``window`` (a Go duration, 10s..1h, default 30s; ``t`` is read too, as
the reference server does), ``labelSelector`` on lists, and ``groupBy=route`` on edges (one
item per route, with a ``route`` field after the metrics: what ``smi top`` shows).  Errors are ``Status`` objects
like the API server's: 404 for an unknown kind or name, 400 for a bad window or selector,
503 when the source of numbers cannot answer (its reason in the message), 403 when the
authorizer says no.  ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` gets a Table.
HEAD is served as GET, and a trailing slash is ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from traffic_metrics import discovery
from traffic_metrics.model import BASE, GROUP, KINDS, WORKLOAD_KINDS, Item, Kind, Ref, traffic_metrics_list
from traffic_metrics.model import traffic_metrics as one_object
from traffic_metrics.quantity import go_duration, parse_go_duration
from traffic_metrics.query import NotFound, Query
from traffic_metrics.selector import SelectorError, parse_selector
from traffic_metrics.sources import Source, SourceUnavailable
from traffic_metrics.table import table, wants_table
from traffic_metrics.topology import Topology

logger = logging.getLogger(__name__)

MIN_WINDOW: Final = 10.0
MAX_WINDOW: Final = 3600.0
DEFAULT_WINDOW: Final = 30.0


@dataclass(frozen=True, slots=True)
class Attributes:
    """What a request does, as a SubjectAccessReview names it."""

    verb: str
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""  # non-resource requests (discovery)
    group: str | None = None  # None: metrics.smi-spec.io; another group (tap.smi-mesh.io, apps; "" the core group)
    version: str | None = None  # None: the mesh groups' v1alpha1 (another group names its own)


# Raises web.HTTPException (401/403 Status) to refuse; returns to allow.
Authorizer = Callable[[web.Request, Attributes], Awaitable[None]]


@dataclass
class MetricsApi:
    """``permits`` (with ``authorize``): allowed or not, never raising: what a user sees (visibility)."""

    topology: Callable[[], Topology]
    source: Source
    authorize: Authorizer | None = None
    permits: Callable[[web.Request, Attributes], Awaitable[bool]] | None = None


def status(code: int, reason: str, message: str, **details: Any) -> web.Response:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return web.json_response(body, status=code)


def _window(request: web.Request) -> float:
    raw = request.query.get("window") or request.query.get("t")
    if raw is None:
        return DEFAULT_WINDOW
    try:
        seconds = parse_go_duration(raw)
    except ValueError as exc:
        raise _BadRequest(f"window: {exc}") from exc
    if not MIN_WINDOW <= seconds <= MAX_WINDOW:
        raise _BadRequest(f"window: {raw!r} is out of range: from 10s to 1h")
    return seconds


class _BadRequest(Exception):
    pass


def _json(request: web.Request, body: Any) -> web.Response:
    return web.json_response(body)


API_KEY: Final = web.AppKey("metrics_api", MetricsApi)


async def _static(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
    api = request.app[API_KEY]
    if api.authorize is not None:
        await api.authorize(request, Attributes(verb="get", path=request.path))
    return _json(request, body)


def _static_handler(make: Callable[[], Any]) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await _static(request, make())

    return handler


async def _health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def _parse_tail(tail: str) -> tuple[Kind, str | None, str | None, bool, str]:
    """(kind, namespace, name, edges, plural as asked) of a path under the group version."""
    parts = [p for p in tail.strip("/").split("/") if p]
    namespace: str | None = None
    if len(parts) >= 2 and parts[0] == "namespaces" and (len(parts) == 2 or parts[2] == "edges"):
        kind = KINDS["namespaces"]
        if len(parts) > 3:
            raise NotFound(f"the server could not find the requested resource: {tail}")
        return kind, None, parts[1], len(parts) == 3, "namespaces"
    if len(parts) >= 3 and parts[0] == "namespaces":
        namespace, parts = parts[1], parts[2:]
    if not parts:
        raise NotFound("the server could not find the requested resource")
    plural = parts[0]
    if plural == discovery.ALL_WORKLOADS:
        kind = KINDS["deployments"]
    elif plural in KINDS:
        kind = KINDS[plural]
    else:
        raise NotFound(f"the server could not find the requested resource ({plural!r} is not served)")
    name = parts[1] if len(parts) >= 2 else None
    edges = len(parts) == 3 and parts[2] == "edges"
    if len(parts) > 3 or (len(parts) == 3 and not edges):
        raise NotFound(f"the server could not find the requested resource: {tail}")
    return kind, namespace, name, edges, plural


async def _resource(request: web.Request) -> web.StreamResponse:
    api = request.app[API_KEY]
    tail = request.match_info["tail"]
    try:
        kind, namespace, name, edges, plural = _parse_tail(tail)
    except NotFound as exc:
        return status(404, "NotFound", str(exc))
    whole = True  # False: a cross-namespace list the user may make only for some namespaces
    if api.authorize is not None:
        attrs = Attributes(
            verb="get" if name else "list",
            resource=plural,
            subresource="edges" if edges else "",
            namespace=namespace or (name if plural == "namespaces" and name else ""),  # as the API server names it
            name=name or "",
        )
        try:
            await api.authorize(request, attrs)
        except web.HTTPForbidden:
            if name is not None or namespace is not None or api.permits is None:
                raise
            whole = False
    try:
        window = _window(request)
        selector = request.query.get("labelSelector")
        select = parse_selector(selector) if selector else None
        data = await api.source.window(window)
        query = Query(api.topology(), data)
        by_route = request.query.get("groupBy") == "route"
        body = _answer(query, kind, plural, namespace, name, edges, select, request.path, by_route)
        if api.permits is not None and (edges or not whole):
            from traffic_metrics.visibility import Visibility, keep_listable, keep_visible_edges

            view = Visibility(request, api.permits)
            await (keep_visible_edges(body, view) if edges else keep_listable(body, plural, view))
    except (_BadRequest, SelectorError) as exc:
        return status(400, "BadRequest", str(exc))
    except NotFound as exc:
        return status(404, "NotFound", str(exc), group=GROUP, kind=plural, name=name or "")
    except SourceUnavailable as exc:
        return status(503, "ServiceUnavailable", f"metrics source {api.source.name} unavailable: {exc}")
    if wants_table(request.headers.get("Accept", "")):
        objects = body["items"] if body.get("kind") == "TrafficMetricsList" else [body]
        return _json(request, table(objects, edges=edges))
    return _json(request, body)


def _answer(
    query: Query,
    kind: Kind,
    plural: str,
    namespace: str | None,
    name: str | None,
    edges: bool,
    select: Callable[..., bool] | None,
    path: str,
    by_route: bool = False,
) -> dict[str, Any]:
    data = query.data
    when, window = data.when, data.window
    if edges:
        assert name is not None
        items = query.edge_items(kind, namespace or "", name, by_route=by_route)
        resource = Ref(kind.kind, namespace or "", name)
        return traffic_metrics_list(items, resource=resource, link=path, when=when, window=window)
    if plural == discovery.ALL_WORKLOADS:
        found: list[Item] = []
        for workload_plural in sorted(WORKLOAD_KINDS):
            try:
                found += query.resource_items(KINDS[workload_plural], namespace, name=name, select=select)
            except NotFound:
                continue
        if name is not None and not found:
            raise NotFound(f'no workload named "{name}"' + (f" in namespace {namespace}" if namespace else ""))
        if name is not None and len(found) == 1:
            return one_object(found[0], when=when, window=window)
        return traffic_metrics_list(found, resource=Ref("TrafficMetrics", namespace or ""), link=path, when=when,
                                    window=window)  # fmt: skip
    items = query.resource_items(kind, namespace, name=name, select=select)
    if name is not None and kind.plural != "trafficsplits":
        return one_object(items[0], when=when, window=window)
    resource = Ref(kind.kind, namespace or "", name or "")
    link = path if name else f"{BASE}/{kind.plural}"
    return traffic_metrics_list(items, resource=resource, link=link, when=when, window=window)


def add_routes(app: web.Application, api: MetricsApi) -> None:
    """The API's routes on ``app`` (the local runtime adds them to its control server)."""
    app[API_KEY] = api
    statics: dict[str, Callable[[], Any]] = {
        "/apis": discovery.api_group_list,
        f"/apis/{GROUP}": discovery.api_group,
        BASE: discovery.api_resource_list,
        "/api": discovery.api_versions,
        "/version": discovery.version,
        "/openapi/v2": discovery.openapi_v2,
        "/openapi/v3": discovery.openapi_v3_index,
        f"/openapi/v3{BASE[len('/apis') :]}".replace("/openapi/v3/", "/openapi/v3/apis/"): discovery.openapi_v3,
    }
    for path, make in statics.items():
        handler = _static_handler(make)
        app.router.add_get(path, handler)
        app.router.add_get(path + "/", handler, allow_head=False)
    for path in ("/healthz", "/livez", "/readyz"):
        app.router.add_get(path, _health)
    app.router.add_get(BASE + "/{tail:.+}", _resource)


def make_app(api: MetricsApi, *, middlewares: list[Any] | None = None) -> web.Application:
    app = web.Application(middlewares=middlewares or [])
    add_routes(app, api)
    return app


__all__ = ["Attributes", "Authorizer", "MetricsApi", "add_routes", "go_duration", "make_app", "status"]
