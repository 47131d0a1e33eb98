"""The control API of a running local mesh (aiohttp on the runtime's address, a random port).

::

    GET  /v1/status                         pods, processes, config versions, problems, events
    GET  /v1/objects?kind=K[&namespace=N][&name=X]   objects as manifests
    POST /v1/apply   {"documents": [{"source": ..., "raw": {...}}, ...]}
    POST /v1/delete  {"documents": [...]}   (only kind/metadata are read)
    POST /v1/down                           stop everything and exit
    GET  /apis/metrics.smi-spec.io/...      the TrafficMetrics API (smi.runtime.metricsapi)
    GET  /dashboard/                        the traffic map page (traffic_metrics.dashboard)
    GET  /apis/tap.smi-mesh.io/v1alpha1/namespaces/NS/deployments/NAME/tap?...   tap (ndjson)
    GET  /apis/monitoring.smi-mesh.io/v1alpha1/levels                 monitoring levels (traffic_metrics.levels)
    POST /apis/monitoring.smi-mesh.io/v1alpha1/namespaces/NS[/deployments/NAME]/level   {"level": ...}

Apply answers 422 with the problem lines when any document is invalid, and applies nothing
then (all or nothing, so a half-applied file never happens).  The CLI finds the API through
the state file (``smi.runtime.statefile``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from smi.compile.monitoring import monitoring_problems
from smi.distribution import ProxyId
from smi.model import CLUSTER_SCOPED, CORE_KINDS, SMI_KINDS, ObjectKey, Resource, key_of
from smi.runtime.addresses import ADMIN_PORT
from smi.runtime.describing import manifest, plain
from smi.runtime.folders import parse_document, raw_key
from smi.runtime.metricsapi import install, metrics_view
from smi.runtime.monitoring import LocalLevels
from smi.runtime.podrunning import PodRunner
from smi.runtime.running import LocalRuntime
from smi.runtime.tlsview import SidecarTls
from traffic_metrics.dashboard.serving import add_dashboard_routes
from traffic_metrics.levels import add_level_routes
from traffic_metrics.tapfanin import add_tap_routes

RUNTIME_KEY = web.AppKey("runtime", LocalRuntime)
KINDS = {**SMI_KINDS, **CORE_KINDS}


async def _sidecar_view(runner: PodRunner) -> dict[str, Any]:
    ip = runner.pod.pod_ip
    assert ip is not None
    (ready, _), (scraped, metrics) = await asyncio.gather(
        runner.admin_get("/ready", limit=0.5), runner.admin_get("/metrics", limit=0.5)
    )
    tls = SidecarTls.parse(metrics.decode("utf-8", "replace")) if scraped == 200 else SidecarTls()
    return {"ready": ready == 200, "admin": f"http://{ip}:{ADMIN_PORT}", **tls.as_json()}


def _mtls_view(runtime: LocalRuntime) -> dict[str, Any]:
    view: dict[str, Any] = {"mode": runtime.settings.mtls}
    if runtime.tls is not None:
        ca = runtime.tls.ca.status()
        view.update(
            ca_dir=str(runtime.tls.state_dir / "ca"),
            trust_domain=ca.trust_domain,
            root_sha256=ca.active_root["sha256"],
            root_not_after=ca.active_root["not_after"],
            rotating=ca.rotating,
            issued=ca.issued,
            trust_bundle=str(runtime.tls.bundle_path),
        )
    return view


async def status(runtime: LocalRuntime) -> dict[str, Any]:
    runners = sorted(runtime.pods.values(), key=lambda r: r.key)
    sidecars = await asyncio.gather(*(_sidecar_view(r) for r in runners))
    pods = []
    for runner, sidecar in zip(runners, sidecars, strict=True):
        issued = None
        if runtime.config is not None:
            issued = runtime.config.publisher.issued(ProxyId(runner.pod.meta.namespace, runner.pod.meta.name))
        sidecar["config_version"] = issued[0] if issued else None
        pods.append(
            {
                "namespace": runner.pod.meta.namespace,
                "name": runner.pod.meta.name,
                "deployment": runner.pod.meta.annotations.get("smi-mesh.io/owner", ""),
                "ip": runner.pod.pod_ip,
                "phase": runner.pod.phase,
                "ready": runner.ready,
                "forwards": [f.flag for f in runner.forwards],
                "sidecar": sidecar,
                "processes": [plain(p.status()) for p in runner.processes],
            }
        )
    snapshot = runtime.store.snapshot()
    monitoring = list(monitoring_problems(runtime.compiler.index(snapshot)))  # invalid smi-mesh.io/monitoring
    try:
        statuses = {str(k): plain(v) for k, v in runtime.compiler.statuses(snapshot).items()}
    except Exception as exc:  # status is best effort; the mesh runs regardless
        statuses = {"error": {"accepted": False, "reason": "StatusFailed", "message": str(exc)}}
    return {
        "runtime": {
            "pid": __import__("os").getpid(),
            "runtime_id": runtime.runtime_id,
            "manifests": str(runtime.settings.manifests) if runtime.settings.manifests else None,
            "config_url": runtime.config_url if runtime.config else None,
            "store_version": runtime.store.version,
            "uptime": time.time() - runtime.started_at,
            "connected_proxies": runtime.config.publisher.connected if runtime.config else 0,
            "mtls": _mtls_view(runtime),
            **metrics_view(runtime),
        },
        "pods": pods,
        "objects": statuses,
        "problems": [*runtime.report.problems, *runtime.report.limits.values(), *monitoring],
        "events": list(runtime.report.events),
    }


def kind_named(name: str) -> str | None:
    """The kind a user means: ``TrafficSplit``, ``trafficsplits``, ``ts``, ``svc``, ``deploy`` …"""
    wanted = name.lower()
    short = {
        "ts": "TrafficSplit",
        "tt": "TrafficTarget",
        "htr": "HTTPRouteGroup",
        "tr": "TCPRoute",
        "ur": "UDPRoute",
        "svc": "Service",
        "po": "Pod",
        "deploy": "Deployment",
        "sa": "ServiceAccount",
        "ns": "Namespace",
        "ep": "Endpoints",
        "eps": "EndpointSlice",
    }
    if wanted in short:
        return short[wanted]
    for kind in KINDS:
        lower = kind.lower()
        if wanted in (lower, lower + "s", lower + "es"):
            return kind
    return None


async def _status(request: web.Request) -> web.Response:
    return web.json_response(await status(request.app[RUNTIME_KEY]))


async def _objects(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME_KEY]
    kind = kind_named(request.query.get("kind", ""))
    if kind is None:
        known = ", ".join(sorted(KINDS))
        return web.json_response({"error": f"unknown kind {request.query.get('kind')!r}; known: {known}"}, status=404)
    namespace = request.query.get("namespace") or None
    name = request.query.get("name") or None
    snapshot = runtime.store.snapshot()
    found: list[Resource] = []
    for (ns, obj_name), obj in sorted(snapshot.objects.get(kind, {}).items()):
        if namespace is not None and ns != namespace and kind not in CLUSTER_SCOPED:
            continue
        if name is not None and obj_name != name:
            continue
        found.append(obj)
    if name is not None and not found:
        where = f" in namespace {namespace}" if namespace and kind not in CLUSTER_SCOPED else ""
        return web.json_response({"error": f"{kind} {name!r} not found{where}"}, status=404)
    return web.json_response({"kind": kind, "items": [manifest(o) for o in found]})


def _documents(body: Any) -> list[tuple[str, Any]]:
    docs = body.get("documents") if isinstance(body, Mapping) else None
    if not isinstance(docs, list):
        raise web.HTTPBadRequest(text='body must be {"documents": [{"source": ..., "raw": ...}]}')
    return [(str(d.get("source", "<input>")), d.get("raw")) for d in docs if isinstance(d, Mapping)]


async def _apply(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME_KEY]
    objects: list[Resource] = []
    problems: list[str] = []
    for index, (source, raw) in enumerate(_documents(await request.json())):
        obj, errors = parse_document(raw, source=source, index=index)
        problems.extend(errors)
        if obj is not None:
            objects.append(obj)
    if problems:
        return web.json_response({"problems": problems, "applied": []}, status=422)
    return web.json_response({"problems": [], "applied": runtime.apply_objects(objects)})


async def _delete(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME_KEY]
    keys: list[ObjectKey] = []
    problems: list[str] = []
    for source, raw in _documents(await request.json()):
        key = raw_key(raw) if isinstance(raw, Mapping) else None
        if key is None:
            problems.append(f"{source}: a document without kind and metadata.name cannot be deleted")
        else:
            keys.append(key)
    result = runtime.delete_keys(keys)
    return web.json_response({"problems": problems, "deleted": result}, status=422 if problems else 200)


async def _down(request: web.Request) -> web.Response:
    request.app[RUNTIME_KEY].request_stop()
    return web.json_response({"stopping": True})


def _tap_openers(runtime: LocalRuntime, namespace: str, plural: str, name: str) -> list[Any]:
    """How to reach each running sidecar of a workload (through its runner: works in netns too)."""
    found = []
    for runner in runtime.pods.values():
        meta = runner.pod.meta
        if meta.namespace != namespace or runner.stopped or not runner.pod.pod_ip:
            continue
        owner = meta.annotations.get("smi-mesh.io/owner", "")
        if (plural == "pods" and meta.name == name) or (plural == "deployments" and owner == name):
            found.append(runner.admin_connect)
    return found


def make_app(runtime: LocalRuntime) -> web.Application:
    app = web.Application()
    app[RUNTIME_KEY] = runtime
    app.router.add_get("/v1/status", _status)
    app.router.add_get("/v1/objects", _objects)
    app.router.add_post("/v1/apply", _apply)
    app.router.add_post("/v1/delete", _delete)
    app.router.add_post("/v1/down", _down)
    install(app, runtime)  # the TrafficMetrics API at its aggregated-API paths (docs/metrics.md)
    add_dashboard_routes(app)  # the traffic map, reading that API (docs/dashboard.md)
    add_tap_routes(app, lambda ns, plural, name: _tap_openers(runtime, ns, plural, name))
    add_level_routes(app, LocalLevels(runtime, runtime.set_monitoring))  # monitoring on demand (docs/dashboard.md)
    return app


__all__ = ["kind_named", "make_app", "status"]
_ = key_of
