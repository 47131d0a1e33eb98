"""The admin listener: ``/ready``, ``/live``, ``/metrics`` and ``/config`` (aiohttp, off the hot path)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from proxy.holder import ConfigHolder
from smi.proxyconfig import encode


def build_admin_app(
    *, holder: ConfigHolder, registry: CollectorRegistry, not_ready: Callable[[], str | None] | None = None
) -> web.Application:
    """``not_ready`` names another reason to answer 503 on ``/ready`` (e.g. no workload certificate yet)."""

    async def ready(request: web.Request) -> web.Response:
        reason = not_ready() if not_ready is not None else None
        if reason is not None:
            return web.Response(status=503, text=f"not ready: {reason}\n")
        if holder.current is None:
            return web.Response(status=503, text="not ready: no config from the control plane yet\n")
        return web.Response(text=f"ready: config version {holder.current.version}\n")

    async def live(request: web.Request) -> web.Response:
        return web.Response(text="live\n")

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def config(request: web.Request) -> web.Response:
        current = holder.current
        if current is None:
            return web.json_response({"version": None, "config": None}, status=503)
        return web.json_response(
            {"version": current.version, "config": encode(current.config), "problems": current.problems}
        )

    app = web.Application()
    app.router.add_get("/ready", ready)
    app.router.add_get("/live", live)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/config", config)
    return app
